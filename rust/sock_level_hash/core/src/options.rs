// SPDX-License-Identifier: GPL-2.0 OR MIT
//! What the two socket options ask for, decided before anything changes.
//!
//! `SO_SOCKLEVELHASH` takes an `int` or the extended `struct sock_level_hash`; `SO_SOCKADDLSPH`
//! an `int`. The kernel module copies the user's bytes and asks [`parse_config`],
//! [`check_reconfigure`], [`parse_registration`] and [`check_registration`]; each answers with
//! what to do or the errno of the uapi's error table (`userspace/README.md`), so a refused
//! request changes nothing.
//!
//! Pure code, shared with the kernel module like the rest of this crate.
#![forbid(unsafe_code)]

use crate::hash::{HashFn, HashInput};
use crate::table::{self, Slot};

/// The errors of the uapi, as the kernel's positive errno values (the same on every
/// architecture the project builds for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Errno {
    /// `EBUSY`: the queue count changes while processes are registered, or the queue asked
    /// for belongs to another live process.
    Busy = 16,
    /// `EINVAL`: a value out of range, an unknown hash or input, nonzero flags, a bad length.
    Invalid = 22,
    /// `ENOSPC`: every queue has an owner.
    NoSpace = 28,
    /// `EOPNOTSUPP`: not a TCP stream socket, or registration on a socket without the option.
    NotSupported = 95,
}

/// The most queues a listener may have (`n` in `1..=1024`).
pub const MAX_QUEUES: u16 = table::MAX_QUEUES as u16;

/// The `int` of `SO_SOCKLEVELHASH` that asks for one queue per possible CPU.
pub const QUEUES_PER_CPU: i32 = -1;

/// Size of `struct sock_level_hash { __s32 queues; __u32 hash; __u32 input; __u32 flags;
/// __u32 max_wait_ms; }`.
pub const CONFIG_STRUCT_LEN: usize = 20;

/// Size of the struct before it had `max_wait_ms`, still accepted (with the default wait).
pub const CONFIG_STRUCT_LEN_V1: usize = 16;

/// The longest bounded wait, in milliseconds (`SOCK_LEVEL_HASH_MAX_WAIT_MS_MAX`).
pub const MAX_WAIT_MS_MAX: u32 = 60_000;

/// The bounded wait of a listener whose setting does not name one
/// (`SOCK_LEVEL_HASH_MAX_WAIT_MS_DEFAULT`); why this value: `docs/results/bounded-wait.md`.
pub const MAX_WAIT_MS_DEFAULT: u32 = 200;

/// A listener's setting: how many priority queues and how connections are hashed to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Number of priority queues; 0 means the option is off.
    pub queues: u16,
    /// The hash function.
    pub hash: HashFn,
    /// What it hashes.
    pub input: HashInput,
    /// How long a parked connection waits for its owner before any process may accept it, in
    /// milliseconds; 0 is the strict mode: it waits as long as its owner lives.
    pub max_wait_ms: u32,
}

impl Config {
    /// The option turned off.
    pub const OFF: Config = Config {
        queues: 0,
        hash: HashFn::Toeplitz,
        input: HashInput::ClientAddr,
        max_wait_ms: MAX_WAIT_MS_DEFAULT,
    };

    /// Whether the option is on.
    pub const fn is_on(&self) -> bool {
        self.queues != 0
    }
}

fn field(optval: &[u8], index: usize) -> Option<[u8; 4]> {
    let start = index.checked_mul(4)?;
    let bytes = optval.get(start..start.checked_add(4)?)?;
    let mut word = [0; 4];
    word.copy_from_slice(bytes);
    Some(word)
}

fn queue_count(value: i32, nr_cpu_ids: u32) -> Result<u16, Errno> {
    match value {
        0 => Ok(0),
        // Machines with more CPUs than queues allowed get the maximum.
        QUEUES_PER_CPU => Ok(nr_cpu_ids.clamp(1, u32::from(MAX_QUEUES)) as u16),
        n if n > 0 && n <= i32::from(MAX_QUEUES) => Ok(n as u16),
        _ => Err(Errno::Invalid),
    }
}

/// `setsockopt(SO_SOCKLEVELHASH)`: the bytes the user passed (native byte order), on a machine
/// with `nr_cpu_ids` possible CPUs.
///
/// Four bytes are the `int` (Toeplitz of the client address, the default wait); at least
/// [`CONFIG_STRUCT_LEN`] bytes the struct, whose bytes past the struct must be zero (room to
/// grow it, as `copy_struct_from_user()` allows); exactly [`CONFIG_STRUCT_LEN_V1`] bytes the
/// struct without `max_wait_ms` (the default wait). Anything else, a queue count outside `0`,
/// `-1`, `1..=1024`, an unknown hash or input, nonzero flags or a wait above
/// [`MAX_WAIT_MS_MAX`]: [`Errno::Invalid`].
pub fn parse_config(optval: &[u8], nr_cpu_ids: u32) -> Result<Config, Errno> {
    let int = |index| {
        field(optval, index)
            .map(i32::from_ne_bytes)
            .ok_or(Errno::Invalid)
    };
    let word = |index| {
        field(optval, index)
            .map(u32::from_ne_bytes)
            .ok_or(Errno::Invalid)
    };
    if optval.len() == 4 {
        return Ok(Config {
            queues: queue_count(int(0)?, nr_cpu_ids)?,
            ..Config::OFF
        });
    }
    let tail = optval.get(CONFIG_STRUCT_LEN..).unwrap_or_default();
    let v1 = optval.len() == CONFIG_STRUCT_LEN_V1;
    if (!v1 && optval.len() < CONFIG_STRUCT_LEN) || tail.iter().any(|&b| b != 0) {
        return Err(Errno::Invalid);
    }
    let queues = queue_count(int(0)?, nr_cpu_ids)?;
    let hash = HashFn::try_from(word(1)?).map_err(|_| Errno::Invalid)?;
    let input = HashInput::try_from(word(2)?).map_err(|_| Errno::Invalid)?;
    if word(3)? != 0 {
        return Err(Errno::Invalid);
    }
    let max_wait_ms = if v1 { MAX_WAIT_MS_DEFAULT } else { word(4)? };
    if max_wait_ms > MAX_WAIT_MS_MAX {
        return Err(Errno::Invalid);
    }
    Ok(Config {
        queues,
        hash,
        input,
        max_wait_ms,
    })
}

/// What applying a new [`Config`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconfigure {
    /// Nothing changes.
    Same,
    /// Create the priority queues (the option was off).
    TurnOn,
    /// Keep queues and registrations, hash or wait differently from now on: parked
    /// connections stay where they are, new ones follow the new hash.
    Rehash,
    /// Replace the queues (none is registered).
    Resize,
    /// Deregister every process and move every parked connection to the normal queue.
    TurnOff,
}

/// Whether `new` may replace `current` on a listener where `registered` processes own a
/// queue: the queue count cannot change under registered processes ([`Errno::Busy`]), but the
/// option can always be turned off (nothing is lost: parked connections go to the normal
/// queue) and the hash and the wait can always change.
pub fn check_reconfigure(
    current: &Config,
    new: &Config,
    registered: usize,
) -> Result<Reconfigure, Errno> {
    Ok(match (current.is_on(), new.is_on()) {
        (false, false) => Reconfigure::Same,
        (false, true) => Reconfigure::TurnOn,
        (true, false) => Reconfigure::TurnOff,
        (true, true) if current.queues != new.queues => {
            if registered > 0 {
                return Err(Errno::Busy);
            }
            Reconfigure::Resize
        }
        (true, true) if current == new => Reconfigure::Same,
        (true, true) => Reconfigure::Rehash,
    })
}

/// `SO_SOCKADDLSPH`'s `int`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registration {
    /// Register the caller to this queue.
    Queue(Slot),
    /// Register the caller to any free queue (`-1`).
    Any,
    /// Deregister the caller (`-2`).
    Deregister,
}

/// The `int` of `SO_SOCKADDLSPH` asking for any free queue.
pub const REGISTER_ANY: i32 = -1;
/// The `int` of `SO_SOCKADDLSPH` deregistering the caller.
pub const DEREGISTER: i32 = -2;

/// `setsockopt(SO_SOCKADDLSPH)` on a listener configured as `config`: the request, or
/// [`Errno::NotSupported`] if the option is off, [`Errno::Invalid`] for a bad length or an
/// index that is not a queue of the listener.
pub fn parse_registration(optval: &[u8], config: &Config) -> Result<Registration, Errno> {
    if optval.len() != 4 {
        return Err(Errno::Invalid);
    }
    if !config.is_on() {
        return Err(Errno::NotSupported);
    }
    let value = field(optval, 0)
        .map(i32::from_ne_bytes)
        .ok_or(Errno::Invalid)?;
    match value {
        REGISTER_ANY => Ok(Registration::Any),
        DEREGISTER => Ok(Registration::Deregister),
        n if n >= 0 && n < i32::from(config.queues) => Ok(Registration::Queue(n as Slot)),
        _ => Err(Errno::Invalid),
    }
}

/// What the caller's registration request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationChange {
    /// The caller already has this queue: nothing changes (registering is idempotent).
    Keep(Slot),
    /// Give the caller this queue.
    Register(Slot),
    /// Take the caller's queue away (its parked connections move).
    Deregister(Slot),
    /// The caller has no queue and asked to deregister: nothing changes.
    Nothing,
}

/// Decides `request` for a caller that owns `caller_queue` (if any), where `owner_alive(queue)`
/// tells whether another live process owns `queue` and `first_free` is the lowest queue
/// without a live owner.
///
/// A process owns at most one queue of a listener: asking for another one while registered is
/// [`Errno::Busy`] (deregister first). A queue of another live process: [`Errno::Busy`]; no
/// free queue for `Any`: [`Errno::NoSpace`].
pub fn check_registration(
    request: Registration,
    caller_queue: Option<Slot>,
    owner_alive: impl Fn(Slot) -> bool,
    first_free: Option<Slot>,
) -> Result<RegistrationChange, Errno> {
    match (request, caller_queue) {
        (Registration::Deregister, Some(queue)) => Ok(RegistrationChange::Deregister(queue)),
        (Registration::Deregister, None) => Ok(RegistrationChange::Nothing),
        (Registration::Any, Some(queue)) => Ok(RegistrationChange::Keep(queue)),
        (Registration::Queue(asked), Some(queue)) if asked == queue => {
            Ok(RegistrationChange::Keep(queue))
        }
        (Registration::Queue(_), Some(_)) => Err(Errno::Busy),
        (Registration::Any, None) => first_free
            .map(RegistrationChange::Register)
            .ok_or(Errno::NoSpace),
        (Registration::Queue(asked), None) if owner_alive(asked) => Err(Errno::Busy),
        (Registration::Queue(asked), None) => Ok(RegistrationChange::Register(asked)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(words: &[i32]) -> [u8; 20] {
        let mut out = [0; 20];
        for (i, w) in words.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
        }
        out
    }

    #[test]
    fn int_form() {
        let on = |n: i32| parse_config(&n.to_ne_bytes(), 2);
        assert_eq!(on(0), Ok(Config::OFF));
        assert_eq!(on(-1).map(|c| c.queues), Ok(2));
        assert_eq!(on(1).map(|c| c.queues), Ok(1));
        assert_eq!(on(1024).map(|c| c.queues), Ok(1024));
        assert_eq!(on(1025), Err(Errno::Invalid));
        assert_eq!(on(-2), Err(Errno::Invalid));
        assert_eq!(
            on(4).map(|c| (c.hash, c.input)),
            Ok((HashFn::Toeplitz, HashInput::ClientAddr))
        );
        // -1 on a machine with more CPUs than queues allowed.
        assert_eq!(
            parse_config(&(-1i32).to_ne_bytes(), 4096).map(|c| c.queues),
            Ok(1024)
        );
    }

    #[test]
    fn struct_form() {
        let parsed = parse_config(&bytes(&[8, 4, 2, 0, 50]), 2);
        assert_eq!(
            parsed,
            Ok(Config {
                queues: 8,
                hash: HashFn::Crc16,
                input: HashInput::FourTuple,
                max_wait_ms: 50,
            })
        );
        // 0 is the strict mode; the struct without the field gets the default.
        assert_eq!(
            parse_config(&bytes(&[8, 0, 0, 0, 0]), 2).map(|c| c.max_wait_ms),
            Ok(0)
        );
        assert_eq!(
            parse_config(&bytes(&[8, 0, 0, 0, 0])[..16], 2).map(|c| c.max_wait_ms),
            Ok(MAX_WAIT_MS_DEFAULT)
        );
        assert_eq!(
            parse_config(&8i32.to_ne_bytes(), 2).map(|c| c.max_wait_ms),
            Ok(MAX_WAIT_MS_DEFAULT)
        );
        assert_eq!(
            parse_config(&bytes(&[8, 0, 0, 0, 60_000]), 2).map(|c| c.max_wait_ms),
            Ok(60_000)
        );
        assert_eq!(
            parse_config(&bytes(&[8, 0, 0, 0, 60_001]), 2),
            Err(Errno::Invalid)
        );
        assert_eq!(
            parse_config(&bytes(&[8, 0, 0, 0, -1]), 2),
            Err(Errno::Invalid)
        );
        assert_eq!(parse_config(&bytes(&[8, 5, 0, 0]), 2), Err(Errno::Invalid));
        assert_eq!(parse_config(&bytes(&[8, 0, 3, 0]), 2), Err(Errno::Invalid));
        assert_eq!(parse_config(&bytes(&[8, 0, 0, 1]), 2), Err(Errno::Invalid));
        assert_eq!(
            parse_config(&bytes(&[2000, 0, 0, 0]), 2),
            Err(Errno::Invalid)
        );
        // Longer than the struct: only zeros may follow.
        let mut longer = [0u8; 28];
        longer[..20].copy_from_slice(&bytes(&[3, 1, 0, 0, 7]));
        assert_eq!(
            parse_config(&longer, 2).map(|c| (c.queues, c.max_wait_ms)),
            Ok((3, 7))
        );
        longer[24] = 1;
        assert_eq!(parse_config(&longer, 2), Err(Errno::Invalid));
        // Neither an int nor the struct.
        for len in [0, 1, 2, 3, 5, 8, 12, 15, 17, 18, 19] {
            assert_eq!(
                parse_config(&[0; 20][..len], 2),
                Err(Errno::Invalid),
                "length {len}"
            );
        }
    }

    #[test]
    fn reconfigure() {
        let with = |queues, hash| Config {
            queues,
            hash,
            ..Config::OFF
        };
        let four = with(4, HashFn::Toeplitz);
        assert_eq!(
            check_reconfigure(&Config::OFF, &four, 0),
            Ok(Reconfigure::TurnOn)
        );
        assert_eq!(check_reconfigure(&four, &four, 3), Ok(Reconfigure::Same));
        assert_eq!(
            check_reconfigure(&four, &Config::OFF, 3),
            Ok(Reconfigure::TurnOff)
        );
        assert_eq!(
            check_reconfigure(&four, &with(8, HashFn::Toeplitz), 0),
            Ok(Reconfigure::Resize)
        );
        assert_eq!(
            check_reconfigure(&four, &with(8, HashFn::Toeplitz), 1),
            Err(Errno::Busy)
        );
        assert_eq!(
            check_reconfigure(&four, &with(4, HashFn::Crc16), 2),
            Ok(Reconfigure::Rehash)
        );
        let strict = Config {
            max_wait_ms: 0,
            ..four
        };
        assert_eq!(
            check_reconfigure(&four, &strict, 2),
            Ok(Reconfigure::Rehash)
        );
        assert_eq!(
            check_reconfigure(&Config::OFF, &Config::OFF, 0),
            Ok(Reconfigure::Same)
        );
    }

    #[test]
    fn registration_values() {
        let four = Config {
            queues: 4,
            ..Config::OFF
        };
        let reg = |n: i32| parse_registration(&n.to_ne_bytes(), &four);
        assert_eq!(reg(-1), Ok(Registration::Any));
        assert_eq!(reg(-2), Ok(Registration::Deregister));
        assert_eq!(reg(0), Ok(Registration::Queue(0)));
        assert_eq!(reg(3), Ok(Registration::Queue(3)));
        assert_eq!(reg(4), Err(Errno::Invalid));
        assert_eq!(reg(-3), Err(Errno::Invalid));
        assert_eq!(parse_registration(&[0; 2], &four), Err(Errno::Invalid));
        assert_eq!(
            parse_registration(&0i32.to_ne_bytes(), &Config::OFF),
            Err(Errno::NotSupported)
        );
    }

    #[test]
    fn registration_decisions() {
        let taken = |queue: Slot| queue == 1;
        let decide = |request, caller, free| check_registration(request, caller, taken, free);
        assert_eq!(
            decide(Registration::Any, None, Some(0)),
            Ok(RegistrationChange::Register(0))
        );
        assert_eq!(decide(Registration::Any, None, None), Err(Errno::NoSpace));
        assert_eq!(
            decide(Registration::Queue(1), None, Some(0)),
            Err(Errno::Busy)
        );
        assert_eq!(
            decide(Registration::Queue(2), None, Some(0)),
            Ok(RegistrationChange::Register(2))
        );
        assert_eq!(
            decide(Registration::Any, Some(2), None),
            Ok(RegistrationChange::Keep(2))
        );
        assert_eq!(
            decide(Registration::Queue(2), Some(2), None),
            Ok(RegistrationChange::Keep(2))
        );
        assert_eq!(
            decide(Registration::Queue(3), Some(2), Some(3)),
            Err(Errno::Busy)
        );
        assert_eq!(
            decide(Registration::Deregister, Some(2), None),
            Ok(RegistrationChange::Deregister(2))
        );
        assert_eq!(
            decide(Registration::Deregister, None, Some(0)),
            Ok(RegistrationChange::Nothing)
        );
    }
}
