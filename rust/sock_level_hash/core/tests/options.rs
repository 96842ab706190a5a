//! Property tests of the socket options' decisions against the uapi's rules.

use proptest::prelude::*;
use sock_level_hash_core::hash::{HashFn, HashInput};
use sock_level_hash_core::options::{
    check_registration, parse_config, Errno, Registration, RegistrationChange, MAX_QUEUES,
};

fn config_bytes(queues: i32, hash: u32, input: u32, flags: u32) -> Vec<u8> {
    [
        queues.to_ne_bytes(),
        hash.to_ne_bytes(),
        input.to_ne_bytes(),
        flags.to_ne_bytes(),
    ]
    .concat()
}

proptest! {
    /// Any bytes give a config or EINVAL: never a panic, never another errno.
    #[test]
    fn any_bytes_parse_or_einval(bytes in proptest::collection::vec(any::<u8>(), 0..40), cpus in 1u32..5000) {
        match parse_config(&bytes, cpus) {
            Ok(config) => prop_assert!(config.queues <= MAX_QUEUES),
            Err(errno) => prop_assert_eq!(errno, Errno::Invalid),
        }
    }

    /// The struct is accepted exactly when every field is in range, and read back as given.
    #[test]
    fn struct_fields(queues in -3i32..1100, hash in 0u32..7, input in 0u32..5, flags in 0u32..3, cpus in 1u32..64) {
        let parsed = parse_config(&config_bytes(queues, hash, input, flags), cpus);
        let valid = (queues == -1 || (0..=1024).contains(&queues)) && hash <= 4 && input <= 2 && flags == 0;
        prop_assert_eq!(parsed.is_ok(), valid);
        if let Ok(config) = parsed {
            let expected_queues = if queues == -1 { cpus as u16 } else { queues as u16 };
            prop_assert_eq!(config.queues, expected_queues);
            prop_assert_eq!(config.hash, HashFn::try_from(hash).unwrap());
            prop_assert_eq!(config.input, HashInput::try_from(input).unwrap());
        }
    }

    /// Registration never gives a process a queue another live process owns, never a second
    /// queue, and `Any` fails only when there is no free queue.
    #[test]
    fn registration_rules(owned in proptest::collection::vec(any::<bool>(), 1..16), asked in 0u16..16,
                          caller in proptest::option::of(0u16..16), any in any::<bool>()) {
        let n = owned.len() as u16;
        let alive = |queue: u16| owned.get(queue as usize).copied().unwrap_or(false) && Some(queue) != caller;
        let first_free = (0..n).find(|&s| !alive(s) && Some(s) != caller);
        let request = if any { Registration::Any } else { Registration::Queue(asked % n) };
        match check_registration(request, caller, alive, first_free) {
            Ok(RegistrationChange::Register(queue)) => {
                prop_assert!(caller.is_none());
                prop_assert!(!alive(queue));
            }
            Ok(RegistrationChange::Keep(queue)) => prop_assert_eq!(Some(queue), caller),
            Ok(other) => prop_assert!(false, "unexpected {:?}", other),
            Err(Errno::NoSpace) => prop_assert!(any && caller.is_none() && first_free.is_none()),
            Err(Errno::Busy) => prop_assert!(!any),
            Err(errno) => prop_assert!(false, "unexpected {:?}", errno),
        }
    }
}
