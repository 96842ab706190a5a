//! The byte images of the `getsockopt` replies against the uapi's offsets, written out here by
//! hand from `include/uapi/linux/sock_level_hash.h` (patch 0006), and against the setting's
//! parser: what the kernel writes back, it would accept.

use proptest::prelude::*;
use sock_level_hash_core::hash::{HashFn, HashInput};
use sock_level_hash_core::options::{
    parse_config, Config, Errno, CONFIG_STRUCT_LEN, CONFIG_STRUCT_LEN_V1, MAX_QUEUES,
    MAX_WAIT_MS_MAX,
};
use sock_level_hash_core::reply::{
    config_reply, config_struct, registration_reply, InfoHeader, QueueEntry, ENTRY_LEN, HEADER_LEN,
    INT_LEN, NOT_REGISTERED,
};

/// Writes `field` at `at`, as the C compiler lays out the uapi struct.
fn at<const W: usize>(bytes: &mut [u8], at: usize, field: [u8; W]) {
    bytes[at..at + W].copy_from_slice(&field);
}

/// `struct sock_level_hash_info`, field by field at its offset.
fn header_by_offsets(h: &InfoHeader) -> [u8; 40] {
    let mut b = [0; 40];
    at(&mut b, 0, h.queues.to_ne_bytes());
    at(&mut b, 4, h.hash.to_ne_bytes());
    at(&mut b, 8, h.input.to_ne_bytes());
    at(&mut b, 12, h.registered.to_ne_bytes());
    at(&mut b, 16, h.normal_queued.to_ne_bytes());
    at(&mut b, 24, h.normal_accepted.to_ne_bytes());
    at(&mut b, 32, h.max_wait_ms.to_ne_bytes());
    at(&mut b, 36, h.share.to_ne_bytes());
    b
}

/// `struct sock_level_hash_queue`, field by field at its offset.
fn entry_by_offsets(e: &QueueEntry) -> [u8; 72] {
    let mut b = [0; 72];
    at(&mut b, 0, e.owner_pid.to_ne_bytes());
    at(&mut b, 4, e.depth.to_ne_bytes());
    at(&mut b, 8, e.queued.to_ne_bytes());
    at(&mut b, 16, e.accepted.to_ne_bytes());
    at(&mut b, 24, e.moved.to_ne_bytes());
    at(&mut b, 32, e.wakeups.to_ne_bytes());
    at(&mut b, 40, e.expired.to_ne_bytes());
    at(&mut b, 48, e.overflowed.to_ne_bytes());
    at(&mut b, 56, e.buckets.to_ne_bytes());
    at(&mut b, 60, e.standby.to_ne_bytes());
    at(&mut b, 64, e.demotions.to_ne_bytes());
    at(&mut b, 68, e.promotions.to_ne_bytes());
    b
}

/// `struct sock_level_hash`, field by field at its offset.
fn config_by_offsets(queues: i32, hash: u32, input: u32, flags: u32, wait: u32) -> [u8; 20] {
    let mut b = [0; 20];
    at(&mut b, 0, queues.to_ne_bytes());
    at(&mut b, 4, hash.to_ne_bytes());
    at(&mut b, 8, input.to_ne_bytes());
    at(&mut b, 12, flags.to_ne_bytes());
    at(&mut b, 16, wait.to_ne_bytes());
    b
}

fn header() -> impl Strategy<Value = InfoHeader> {
    any::<(u32, u32, u32, u32, u64, u64, u32, u32)>().prop_map(
        |(queues, hash, input, registered, normal_queued, normal_accepted, max_wait_ms, share)| {
            InfoHeader {
                queues,
                hash,
                input,
                registered,
                normal_queued,
                normal_accepted,
                max_wait_ms,
                share,
            }
        },
    )
}

fn entry() -> impl Strategy<Value = QueueEntry> {
    (
        any::<(i32, u32, u64, u64, u64, u64)>(),
        any::<(u64, u64, u32, u32, u32, u32)>(),
    )
        .prop_map(
            |(
                (owner_pid, depth, queued, accepted, moved, wakeups),
                (expired, overflowed, buckets, standby, demotions, promotions),
            )| QueueEntry {
                owner_pid,
                depth,
                queued,
                accepted,
                moved,
                wakeups,
                expired,
                overflowed,
                buckets,
                standby,
                demotions,
                promotions,
            },
        )
}

fn config() -> impl Strategy<Value = Config> {
    (0..=MAX_QUEUES, 0u32..5, 0u32..3, 0..=MAX_WAIT_MS_MAX).prop_map(
        |(queues, hash, input, max_wait_ms)| Config {
            queues,
            hash: HashFn::try_from(hash).unwrap(),
            input: HashInput::try_from(input).unwrap(),
            max_wait_ms,
        },
    )
}

proptest! {
    #[test]
    fn header_fields_land_at_the_uapi_offsets(header in header()) {
        prop_assert_eq!(header.to_bytes(), header_by_offsets(&header));
    }

    #[test]
    fn entry_fields_land_at_the_uapi_offsets(entry in entry()) {
        prop_assert_eq!(entry.to_bytes(), entry_by_offsets(&entry));
    }

    #[test]
    fn config_fields_land_at_the_uapi_offsets(config in config()) {
        let expected = config_by_offsets(
            i32::from(config.queues),
            config.hash as u32,
            config.input as u32,
            0,
            config.max_wait_ms,
        );
        prop_assert_eq!(config_struct(&config), expected);
    }

    /// What `getsockopt` reads back, `setsockopt` takes as the same setting.
    #[test]
    fn the_config_read_back_parses_to_itself(config in config(), cpus in 1u32..5000) {
        prop_assert_eq!(parse_config(&config_struct(&config), cpus), Ok(config));
    }

    /// Every length gets the `int`, the struct without `max_wait_ms`, the struct, or `EINVAL`;
    /// the reply is always the start of the struct.
    #[test]
    fn config_reply_fits_any_length(config in config(), optlen in 0usize..64) {
        let expected = match optlen {
            4 => Some(INT_LEN),
            16..=19 => Some(CONFIG_STRUCT_LEN_V1),
            20.. => Some(CONFIG_STRUCT_LEN),
            _ => None,
        };
        match config_reply(&config, optlen) {
            Ok(reply) => {
                prop_assert_eq!(Some(reply.as_bytes().len()), expected);
                prop_assert!(reply.as_bytes().len() <= optlen);
                prop_assert!(config_struct(&config).starts_with(reply.as_bytes()));
            }
            Err(errno) => {
                prop_assert_eq!(errno, Errno::Invalid);
                prop_assert_eq!(expected, None);
            }
        }
    }
}

#[test]
fn lengths_are_the_uapi_sizes() {
    assert_eq!((INT_LEN, HEADER_LEN, ENTRY_LEN), (4, 40, 72));
    assert_eq!(InfoHeader::default().to_bytes().len(), HEADER_LEN);
    assert_eq!(QueueEntry::default().to_bytes().len(), ENTRY_LEN);
    assert_eq!(config_struct(&Config::OFF).len(), CONFIG_STRUCT_LEN);
    // The entries follow the header in one array: no padding may be needed between them.
    assert_eq!(HEADER_LEN % 8, 0);
    assert_eq!(ENTRY_LEN % 8, 0);
}

#[test]
fn config_reply_of_each_form() {
    let config = Config {
        queues: 12,
        hash: HashFn::Crc16,
        input: HashInput::FourTuple,
        max_wait_ms: 150,
    };
    let reply = |optlen| config_reply(&config, optlen).map(|r| r.as_bytes().to_vec());
    assert_eq!(reply(4), Ok(12i32.to_ne_bytes().to_vec()));
    assert_eq!(
        reply(16),
        Ok(config_by_offsets(12, 4, 2, 0, 150)[..16].to_vec())
    );
    assert_eq!(reply(20), Ok(config_by_offsets(12, 4, 2, 0, 150).to_vec()));
    assert_eq!(reply(usize::MAX).map(|r| r.len()), Ok(20));
    for optlen in [0, 1, 3, 5, 8, 12, 15] {
        assert_eq!(reply(optlen), Err(Errno::Invalid), "optlen {optlen}");
    }
    // Off: the count 0 and the default setting.
    assert_eq!(
        config_reply(&Config::OFF, 4).map(|r| r.as_bytes().to_vec()),
        Ok(vec![0; 4])
    );
}

#[test]
fn registration_reply_is_the_queue_or_not_registered() {
    assert_eq!(registration_reply(Some(7), 4), Ok(7i32.to_ne_bytes()));
    assert_eq!(
        registration_reply(Some(1023), 100),
        Ok(1023i32.to_ne_bytes())
    );
    assert_eq!(
        registration_reply(None, 4),
        Ok(NOT_REGISTERED.to_ne_bytes())
    );
    assert_eq!(NOT_REGISTERED, -1);
    for optlen in 0..INT_LEN {
        assert_eq!(registration_reply(Some(0), optlen), Err(Errno::Invalid));
    }
}
