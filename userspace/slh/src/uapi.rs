// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel's user-space interface, transcribed: option numbers, limits and the three
//! `#[repr(C)]` structs (the two the kernel writes are the core's), with compile-time checks of
//! their layout. `userspace/README.md` is the
//! reference this file follows.

use core::mem::{offset_of, size_of};
use libc::c_int;

/// `SOL_SOCKET`: the three options are generic socket options.
pub const SOL_SOCKET: c_int = libc::SOL_SOCKET;

// The option numbers follow each architecture's numbering of the generic socket options
// (asm/socket.h). Alpha and parisc (0x4051..0x4053) have no Rust target.
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
mod numbers {
    pub const SO_SOCKLEVELHASH: libc::c_int = 0x005A;
    pub const SO_SOCKADDLSPH: libc::c_int = 0x005B;
    pub const SO_SOCKLEVELHASH_INFO: libc::c_int = 0x005C;
}
#[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
mod numbers {
    pub const SO_SOCKLEVELHASH: libc::c_int = 81;
    pub const SO_SOCKADDLSPH: libc::c_int = 82;
    pub const SO_SOCKLEVELHASH_INFO: libc::c_int = 83;
}

/// Turns the per-process priority queues of a TCP listen socket on or off (int or
/// [`SockLevelHash`]); reads back the queue count or the configuration.
pub const SO_SOCKLEVELHASH: c_int = numbers::SO_SOCKLEVELHASH;
/// Registers the calling process to a queue (int: index, [`SLOT_ANY`], [`SLOT_DEREGISTER`]);
/// reads back the caller's index or [`NOT_REGISTERED`].
pub const SO_SOCKADDLSPH: c_int = numbers::SO_SOCKADDLSPH;
/// Read only: [`SockLevelHashInfo`] followed by one [`SockLevelHashQueue`] per queue.
pub const SO_SOCKLEVELHASH_INFO: c_int = numbers::SO_SOCKLEVELHASH_INFO;

/// `SO_SOCKLEVELHASH` int value: the option is off (also what reading it returns then).
pub const QUEUES_OFF: i32 = 0;
/// `SO_SOCKLEVELHASH` int value: one queue per possible CPU (`nr_cpu_ids`).
pub const QUEUES_PER_CPU: i32 = -1;
/// The largest explicit queue count the kernel accepts.
pub const MAX_QUEUES: u32 = 1024;

/// `SO_SOCKADDLSPH` value: register to any free queue.
pub const SLOT_ANY: i32 = -1;
/// `SO_SOCKADDLSPH` value: deregister the calling process.
pub const SLOT_DEREGISTER: i32 = -2;
/// What reading `SO_SOCKADDLSPH` returns for a process that is not registered.
pub const NOT_REGISTERED: i32 = -1;

/// `SOCK_LEVEL_HASH_MAX_WAIT_MS_MAX`: the longest bounded wait the kernel accepts, in
/// milliseconds.
pub const MAX_WAIT_MS_MAX: u32 = 60_000;
/// `SOCK_LEVEL_HASH_MAX_WAIT_MS_DEFAULT`: the bounded wait of a listener enabled with the
/// `int` or the 16-byte struct, in milliseconds.
pub const MAX_WAIT_MS_DEFAULT: u32 = 200;

/// Size of [`SockLevelHash`] before it had `max_wait_ms`: still accepted by `setsockopt` (with
/// the default wait), and what `getsockopt` writes into a 16..=19-byte buffer.
pub const CONFIG_STRUCT_LEN_V1: usize = 16;

/// `struct sock_level_hash`, the extended `SO_SOCKLEVELHASH` value (optlen >= 20; exactly 16,
/// the struct without `max_wait_ms`, is still accepted with the default wait).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockLevelHash {
    /// 0 off, -1 one per possible CPU, 1..=1024 that many; reading returns the resolved count.
    pub queues: i32,
    /// A [`crate::HashFn`] number.
    pub hash: u32,
    /// A [`crate::HashInput`] number.
    pub input: u32,
    /// Must be 0 (room for later extensions that old kernels then refuse with `EINVAL`).
    pub flags: u32,
    /// Bounded wait: how long a parked connection waits for its owner before it moves to the
    /// normal queue, `1..=`[`MAX_WAIT_MS_MAX`] ms (this also bounds each queue to its share of
    /// the backlog); 0 is the strict mode, nothing ever spills.
    pub max_wait_ms: u32,
}

/// `struct sock_level_hash_info`, the header `SO_SOCKLEVELHASH_INFO` writes first, and
/// `struct sock_level_hash_queue`, one per queue after it: the very `#[repr(C)]` structs the
/// kernel module fills (the core's `reply`), so the writer and this reader share one layout.
pub use sock_level_hash_core::reply::{
    InfoHeader as SockLevelHashInfo, QueueEntry as SockLevelHashQueue,
};

// The layouts are the kernel's; a mismatch would silently garble every field.
const _: () = {
    assert!(size_of::<SockLevelHash>() == 20);
    assert!(offset_of!(SockLevelHash, queues) == 0);
    assert!(offset_of!(SockLevelHash, hash) == 4);
    assert!(offset_of!(SockLevelHash, input) == 8);
    assert!(offset_of!(SockLevelHash, flags) == 12);
    assert!(offset_of!(SockLevelHash, max_wait_ms) == CONFIG_STRUCT_LEN_V1);

    assert!(size_of::<SockLevelHashInfo>() == 40);
    assert!(offset_of!(SockLevelHashInfo, queues) == 0);
    assert!(offset_of!(SockLevelHashInfo, hash) == 4);
    assert!(offset_of!(SockLevelHashInfo, input) == 8);
    assert!(offset_of!(SockLevelHashInfo, registered) == 12);
    assert!(offset_of!(SockLevelHashInfo, normal_queued) == 16);
    assert!(offset_of!(SockLevelHashInfo, normal_accepted) == 24);
    assert!(offset_of!(SockLevelHashInfo, max_wait_ms) == 32);
    assert!(offset_of!(SockLevelHashInfo, share) == 36);

    assert!(size_of::<SockLevelHashQueue>() == 72);
    assert!(offset_of!(SockLevelHashQueue, owner_pid) == 0);
    assert!(offset_of!(SockLevelHashQueue, depth) == 4);
    assert!(offset_of!(SockLevelHashQueue, queued) == 8);
    assert!(offset_of!(SockLevelHashQueue, accepted) == 16);
    assert!(offset_of!(SockLevelHashQueue, moved) == 24);
    assert!(offset_of!(SockLevelHashQueue, wakeups) == 32);
    assert!(offset_of!(SockLevelHashQueue, expired) == 40);
    assert!(offset_of!(SockLevelHashQueue, overflowed) == 48);
    assert!(offset_of!(SockLevelHashQueue, buckets) == 56);
    assert!(offset_of!(SockLevelHashQueue, standby) == 60);
    assert!(offset_of!(SockLevelHashQueue, demotions) == 64);
    assert!(offset_of!(SockLevelHashQueue, promotions) == 68);
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Pod;

    #[test]
    fn option_numbers_follow_the_generic_numbering() {
        #[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
        assert_eq!(
            (SO_SOCKLEVELHASH, SO_SOCKADDLSPH, SO_SOCKLEVELHASH_INFO),
            (81, 82, 83)
        );
        // The generic option before ours on Linux 6.12 (SO_DEVMEM_DONTNEED) is 80.
        assert_eq!(SO_SOCKLEVELHASH, libc::SO_DEVMEM_DONTNEED + 1);
        assert_eq!(SOL_SOCKET, 1);
    }

    #[test]
    fn struct_sizes_and_alignment_fit_the_kernel_layout() {
        assert_eq!(size_of::<SockLevelHash>(), 20);
        assert_eq!(size_of::<SockLevelHashInfo>(), 40);
        assert_eq!(size_of::<SockLevelHashQueue>(), 72);
        // An array of entries after the header must not need padding between them.
        assert_eq!(
            size_of::<SockLevelHashInfo>() % core::mem::align_of::<SockLevelHashQueue>(),
            0
        );
    }

    #[test]
    fn limits_and_lengths_are_the_kernel_modules() {
        use sock_level_hash_core::options;
        assert_eq!(MAX_WAIT_MS_MAX, options::MAX_WAIT_MS_MAX);
        assert_eq!(MAX_WAIT_MS_DEFAULT, options::MAX_WAIT_MS_DEFAULT);
        assert_eq!(size_of::<SockLevelHash>(), options::CONFIG_STRUCT_LEN);
        assert_eq!(CONFIG_STRUCT_LEN_V1, options::CONFIG_STRUCT_LEN_V1);
        assert_eq!(MAX_QUEUES, u32::from(options::MAX_QUEUES));
        assert_eq!(QUEUES_PER_CPU, options::QUEUES_PER_CPU);
        use sock_level_hash_core::reply;
        assert_eq!(size_of::<SockLevelHashInfo>(), reply::HEADER_LEN);
        assert_eq!(size_of::<SockLevelHashQueue>(), reply::ENTRY_LEN);
        assert_eq!(NOT_REGISTERED, reply::NOT_REGISTERED);
    }

    #[test]
    fn byte_images_are_native_endian_fields_at_their_offsets() {
        let value = SockLevelHash {
            queues: -1,
            hash: 4,
            input: 2,
            flags: 0x0102_0304,
            max_wait_ms: 60_000,
        };
        let bytes = value.as_bytes();
        assert_eq!(&bytes[0..4], &(-1i32).to_ne_bytes());
        assert_eq!(&bytes[4..8], &4u32.to_ne_bytes());
        assert_eq!(&bytes[8..12], &2u32.to_ne_bytes());
        assert_eq!(&bytes[12..16], &0x0102_0304u32.to_ne_bytes());
        assert_eq!(&bytes[16..20], &60_000u32.to_ne_bytes());
        assert_eq!(SockLevelHash::read_from(bytes), Some(value));
        assert_eq!(SockLevelHash::read_from(&bytes[..19]), None);

        let mut raw = [0u8; 40];
        raw[0..4].copy_from_slice(&8u32.to_ne_bytes());
        raw[4..8].copy_from_slice(&1u32.to_ne_bytes());
        raw[8..12].copy_from_slice(&2u32.to_ne_bytes());
        raw[12..16].copy_from_slice(&3u32.to_ne_bytes());
        raw[16..24].copy_from_slice(&21u64.to_ne_bytes());
        raw[24..32].copy_from_slice(&22u64.to_ne_bytes());
        raw[32..36].copy_from_slice(&150u32.to_ne_bytes());
        raw[36..40].copy_from_slice(&43u32.to_ne_bytes());
        assert_eq!(
            SockLevelHashInfo::read_from(&raw),
            Some(SockLevelHashInfo {
                queues: 8,
                hash: 1,
                input: 2,
                registered: 3,
                normal_queued: 21,
                normal_accepted: 22,
                max_wait_ms: 150,
                share: 43
            })
        );
        assert_eq!(SockLevelHashInfo::read_from(&raw[..39]), None);

        let mut raw = [0u8; 72];
        raw[0..4].copy_from_slice(&4321i32.to_ne_bytes());
        raw[4..8].copy_from_slice(&7u32.to_ne_bytes());
        raw[8..16].copy_from_slice(&11u64.to_ne_bytes());
        raw[16..24].copy_from_slice(&12u64.to_ne_bytes());
        raw[24..32].copy_from_slice(&13u64.to_ne_bytes());
        raw[32..40].copy_from_slice(&14u64.to_ne_bytes());
        raw[40..48].copy_from_slice(&15u64.to_ne_bytes());
        raw[48..56].copy_from_slice(&16u64.to_ne_bytes());
        raw[56..60].copy_from_slice(&17u32.to_ne_bytes());
        raw[60..64].copy_from_slice(&1u32.to_ne_bytes());
        raw[64..68].copy_from_slice(&18u32.to_ne_bytes());
        raw[68..72].copy_from_slice(&19u32.to_ne_bytes());
        // Unaligned on purpose: the reader must not assume the buffer's alignment.
        let mut shifted = [0u8; 73];
        shifted[1..].copy_from_slice(&raw);
        let queue = SockLevelHashQueue::read_from(&shifted[1..]).unwrap();
        assert_eq!(
            queue,
            SockLevelHashQueue {
                owner_pid: 4321,
                depth: 7,
                queued: 11,
                accepted: 12,
                moved: 13,
                wakeups: 14,
                expired: 15,
                overflowed: 16,
                buckets: 17,
                standby: 1,
                demotions: 18,
                promotions: 19
            }
        );
        assert_eq!(SockLevelHashQueue::read_from(&shifted[1..72]), None);
    }

    /// The kernel module writes its replies with the core's `reply` (the very file it
    /// includes), this library reads them with the structs above: every field must come back
    /// as written. Each field has a value of its own, so two fields swapped would show.
    mod kernel_writer {
        use super::*;
        use crate::info::parse_info;
        use crate::{Config, HashFn, HashInput, MaxWait, Queues};
        use sock_level_hash_core::options;
        use sock_level_hash_core::reply::{self, InfoHeader, QueueEntry};

        fn header() -> InfoHeader {
            InfoHeader {
                queues: 2,
                hash: HashFn::Crc16 as u32,
                input: HashInput::FourTuple as u32,
                registered: 0x0a0b_0c0d,
                normal_queued: 0x0102_0304_0506_0708,
                normal_accepted: 0x1112_1314_1516_1718,
                max_wait_ms: 60_000,
                share: 0x2122_2324,
            }
        }

        /// Queue `n`'s entry: every counter different from every other, in this entry and the
        /// next (`standby` is 0 or 1, all the reader accepts).
        fn entry(n: u32) -> QueueEntry {
            let wide = |field: u64| (u64::from(n) << 40) | (field << 8) | u64::from(n);
            QueueEntry {
                owner_pid: 1000 + n as i32,
                depth: 10 + n,
                queued: wide(1),
                accepted: wide(2),
                moved: wide(3),
                wakeups: wide(4),
                expired: wide(5),
                overflowed: wide(6),
                buckets: 20 + n,
                standby: n % 2,
                demotions: 30 + n,
                promotions: 40 + n,
            }
        }

        #[test]
        fn info_header_reads_back() {
            let h = header();
            assert_eq!(
                SockLevelHashInfo::read_from(&h.to_bytes()),
                Some(SockLevelHashInfo {
                    queues: h.queues,
                    hash: h.hash,
                    input: h.input,
                    registered: h.registered,
                    normal_queued: h.normal_queued,
                    normal_accepted: h.normal_accepted,
                    max_wait_ms: h.max_wait_ms,
                    share: h.share,
                })
            );
        }

        #[test]
        fn queue_entries_read_back() {
            for e in [entry(0), entry(1)] {
                assert_eq!(
                    SockLevelHashQueue::read_from(&e.to_bytes()),
                    Some(SockLevelHashQueue {
                        owner_pid: e.owner_pid,
                        depth: e.depth,
                        queued: e.queued,
                        accepted: e.accepted,
                        moved: e.moved,
                        wakeups: e.wakeups,
                        expired: e.expired,
                        overflowed: e.overflowed,
                        buckets: e.buckets,
                        standby: e.standby,
                        demotions: e.demotions,
                        promotions: e.promotions,
                    })
                );
            }
        }

        /// The whole answer, header and entries in one buffer, as `slh info` parses it.
        #[test]
        fn info_parses_to_what_was_written() {
            let (h, entries) = (header(), [entry(0), entry(1)]);
            let mut bytes = h.to_bytes().to_vec();
            for e in &entries {
                bytes.extend_from_slice(&e.to_bytes());
            }
            let info = parse_info(&bytes).unwrap();
            assert_eq!(info.queues, h.queues);
            assert_eq!(info.hash as u32, h.hash);
            assert_eq!(info.input as u32, h.input);
            assert_eq!(info.registered, h.registered);
            assert_eq!(info.normal_queued, h.normal_queued);
            assert_eq!(info.normal_accepted, h.normal_accepted);
            assert_eq!(info.max_wait, MaxWait::Millis(h.max_wait_ms));
            assert_eq!(info.share, Some(h.share));
            assert!(info.is_complete());
            for ((stats, e), index) in info.queue_stats.iter().zip(&entries).zip(0..) {
                assert_eq!(stats.index, index);
                assert_eq!(stats.owner_pid, Some(e.owner_pid as u32));
                assert_eq!(stats.depth, e.depth);
                assert_eq!(stats.queued, e.queued);
                assert_eq!(stats.accepted, e.accepted);
                assert_eq!(stats.moved, e.moved);
                assert_eq!(stats.wakeups, e.wakeups);
                assert_eq!(stats.expired, e.expired);
                assert_eq!(stats.overflowed, e.overflowed);
                assert_eq!(stats.buckets, e.buckets);
                assert_eq!(stats.standby, e.standby == 1);
                assert_eq!(stats.demotions, e.demotions);
                assert_eq!(stats.promotions, e.promotions);
            }
        }

        /// `SO_SOCKLEVELHASH` read back as the library reads it: into a zeroed struct, or an
        /// `int`.
        #[test]
        fn config_reads_back_in_each_form() {
            let config = options::Config {
                queues: 12,
                hash: HashFn::Crc16,
                input: HashInput::FourTuple,
                max_wait_ms: 150,
            };
            let read = |optlen: usize| {
                let reply = reply::config_reply(&config, optlen).unwrap();
                let bytes = reply.as_bytes();
                let mut image = [0u8; size_of::<SockLevelHash>()];
                image[..bytes.len()].copy_from_slice(bytes);
                (bytes.len(), SockLevelHash::read_from(&image).unwrap())
            };
            let full = SockLevelHash {
                queues: 12,
                hash: HashFn::Crc16 as u32,
                input: HashInput::FourTuple as u32,
                flags: 0,
                max_wait_ms: 150,
            };
            assert_eq!(read(size_of::<SockLevelHash>()), (20, full));
            // A buffer of the struct before `max_wait_ms`: the field stays 0.
            assert_eq!(
                read(CONFIG_STRUCT_LEN_V1),
                (
                    CONFIG_STRUCT_LEN_V1,
                    SockLevelHash {
                        max_wait_ms: 0,
                        ..full
                    }
                )
            );
            let expected = Config::new(Queues::count(12).unwrap(), HashFn::Crc16)
                .with_input(HashInput::FourTuple)
                .with_max_wait(MaxWait::Millis(150));
            assert_eq!(
                Config::from_raw(read(20).1, crate::Op::ReadConfig).unwrap(),
                Some(expected)
            );
            let int = reply::config_reply(&config, size_of::<i32>()).unwrap();
            assert_eq!(i32::read_from(int.as_bytes()), Some(12));
            assert_eq!(int.as_bytes().len(), size_of::<i32>());
        }

        #[test]
        fn registration_reads_back() {
            let read = |queue| i32::read_from(&reply::registration_reply(queue, 4).unwrap());
            assert_eq!(read(Some(5)), Some(5));
            assert_eq!(read(None), Some(NOT_REGISTERED));
        }
    }
}
