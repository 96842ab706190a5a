// SPDX-License-Identifier: MIT OR Apache-2.0
//! `SO_SOCKLEVELHASH_INFO`: parsing the header and queue entries, and growing the buffer until
//! every queue fits.

use std::io;
use std::mem::size_of;

use crate::config::max_wait_from_raw;
use crate::error::{Error, Op};
use crate::sys::Pod;
use crate::uapi::{SockLevelHashInfo, SockLevelHashQueue};
use crate::{HashFn, HashInput, MaxWait};

const HEADER_LEN: usize = size_of::<SockLevelHashInfo>();
const ENTRY_LEN: usize = size_of::<SockLevelHashQueue>();

/// Entries the first attempt has room for: enough for any explicit configuration a pre-fork
/// server is likely to use, so one call usually suffices.
pub const INITIAL_ENTRIES: usize = 64;
/// Attempts before giving up on a queue count that keeps growing under us.
const MAX_ATTEMPTS: usize = 4;
/// No kernel has more queues than this (`nr_cpu_ids` is at most 8192); a larger header count
/// means the answer is not what we think it is, and we must not allocate for it.
const MAX_ENTRIES: usize = 65536;

/// One priority queue's state and counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// The queue's index (what `SO_SOCKADDLSPH` registers to).
    pub index: u32,
    /// The registered process, `None` when the queue is free.
    pub owner_pid: Option<u32>,
    /// Connections waiting now.
    pub depth: u32,
    pub queued: u64,
    pub accepted: u64,
    /// Connections moved away when the owner exited or deregistered.
    pub moved: u64,
    pub wakeups: u64,
    /// Connections sent to the normal queue after waiting the listener's max wait for the
    /// owner (bounded wait).
    pub expired: u64,
    /// Connections sent to the normal queue because the queue held its share (bounded share).
    pub overflowed: u64,
    /// Indirection-table buckets the queue owns now (0 while free or on standby).
    pub buckets: u32,
    /// The owner is on standby: registered, but without buckets, until its first `accept()`
    /// after a hold (it let two connections in a row reach the max wait).
    pub standby: bool,
    /// Times the owner was put on standby.
    pub demotions: u32,
    /// Times the owner was taken off standby.
    pub promotions: u32,
}

/// Everything `SO_SOCKLEVELHASH_INFO` reports about one listen socket.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Info {
    /// Total number of queues (may exceed `queue_stats.len()` if the count grew while reading).
    pub queues: u32,
    pub hash: HashFn,
    pub input: HashInput,
    /// Registered processes.
    pub registered: u32,
    /// Connections that went to the normal accept queue (hashed to a bucket nobody owns, or
    /// spilled from a priority queue), and those accepted from it.
    pub normal_queued: u64,
    pub normal_accepted: u64,
    /// The listener's bounded wait, or the strict mode.
    pub max_wait: MaxWait,
    /// The most connections a queue may hold now, `ceil(backlog / registered)`; `None`: no
    /// limit (the strict mode).
    pub share: Option<u32>,
    /// One entry per queue, in index order.
    pub queue_stats: Vec<QueueStats>,
}

impl Info {
    /// Whether every queue's entry is present.
    pub fn is_complete(&self) -> bool {
        self.queue_stats.len() == self.queues as usize
    }
}

/// Parses what the kernel wrote: the header, then whole entries only.
pub fn parse_info(bytes: &[u8]) -> Result<Info, Error> {
    let malformed = |detail: String| Error::Malformed {
        op: Op::ReadInfo,
        detail,
    };
    let header = SockLevelHashInfo::read_from(bytes).ok_or_else(|| {
        malformed(format!(
            "{} bytes, shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        ))
    })?;
    let entries = &bytes[HEADER_LEN..];
    // The kernel writes whole entries; a remainder means its layout differs from ours.
    if !entries.len().is_multiple_of(ENTRY_LEN) {
        return Err(malformed(format!(
            "{} bytes after the header, not a multiple of the {ENTRY_LEN}-byte entry",
            entries.len()
        )));
    }
    if entries.len() / ENTRY_LEN > header.queues as usize {
        return Err(malformed(format!(
            "{} entries for {} queues",
            entries.len() / ENTRY_LEN,
            header.queues
        )));
    }
    let hash = HashFn::try_from(header.hash)
        .map_err(|e| malformed(format!("unknown hash function {}", e.0)))?;
    let input = HashInput::try_from(header.input)
        .map_err(|e| malformed(format!("unknown hash input {}", e.0)))?;
    let max_wait = max_wait_from_raw(header.max_wait_ms)
        .ok_or_else(|| malformed(format!("max wait {} ms", header.max_wait_ms)))?;
    let queue_stats = entries
        .chunks_exact(ENTRY_LEN)
        .zip(0u32..)
        .map(|(chunk, index)| {
            let raw =
                SockLevelHashQueue::read_from(chunk).expect("chunks_exact yields whole entries");
            let standby = match raw.standby {
                0 => false,
                1 => true,
                other => {
                    return Err(malformed(format!(
                        "standby flag {other} of queue {index} (0 or 1)"
                    )))
                }
            };
            Ok(QueueStats {
                index,
                owner_pid: u32::try_from(raw.owner_pid).ok().filter(|&pid| pid != 0),
                depth: raw.depth,
                queued: raw.queued,
                accepted: raw.accepted,
                moved: raw.moved,
                wakeups: raw.wakeups,
                expired: raw.expired,
                overflowed: raw.overflowed,
                buckets: raw.buckets,
                standby,
                demotions: raw.demotions,
                promotions: raw.promotions,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Info {
        queues: header.queues,
        hash,
        input,
        registered: header.registered,
        normal_queued: header.normal_queued,
        normal_accepted: header.normal_accepted,
        max_wait,
        share: (header.share != 0).then_some(header.share),
        queue_stats,
    })
}

/// Reads the info through `fetch` (one `getsockopt` into the buffer, returning the length the
/// kernel wrote), retrying with a buffer as large as the header says until every queue fits.
pub fn read_info(mut fetch: impl FnMut(&mut [u8]) -> io::Result<usize>) -> Result<Info, Error> {
    let mut entries = INITIAL_ENTRIES;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut buf = vec![0u8; HEADER_LEN + entries * ENTRY_LEN];
        let written = fetch(&mut buf).map_err(|e| Error::from_io(Op::ReadInfo, e))?;
        if written > buf.len() {
            return Err(Error::Malformed {
                op: Op::ReadInfo,
                detail: format!("length {written} exceeds the {}-byte buffer", buf.len()),
            });
        }
        let info = parse_info(&buf[..written])?;
        let total = info.queues as usize;
        // Retry only when the buffer was what limited the answer: the queue count can change
        // between two calls (re-enabled with more queues), hence the bounded loop.
        if total <= entries || attempt == MAX_ATTEMPTS {
            return Ok(info);
        }
        if total > MAX_ENTRIES {
            return Err(Error::Malformed {
                op: Op::ReadInfo,
                detail: format!("{total} queues"),
            });
        }
        entries = total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(queues: u32, hash: u32, input: u32) -> Vec<u8> {
        header_bounds(queues, hash, input, 200, 43)
    }

    fn header_bounds(queues: u32, hash: u32, input: u32, max_wait_ms: u32, share: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&queues.to_ne_bytes());
        bytes.extend_from_slice(&hash.to_ne_bytes());
        bytes.extend_from_slice(&input.to_ne_bytes());
        bytes.extend_from_slice(&2u32.to_ne_bytes()); // registered
        bytes.extend_from_slice(&100u64.to_ne_bytes()); // normal_queued
        bytes.extend_from_slice(&99u64.to_ne_bytes()); // normal_accepted
        bytes.extend_from_slice(&max_wait_ms.to_ne_bytes());
        bytes.extend_from_slice(&share.to_ne_bytes());
        assert_eq!(bytes.len(), HEADER_LEN);
        bytes
    }

    /// Counters `index * 10 + 1..=6`, buckets `index + 100`, standby `index % 2`, demotions
    /// and promotions `index + 7`, `index + 8`.
    fn entry(owner_pid: i32, index: u64) -> Vec<u8> {
        entry_standby(owner_pid, index, (index % 2) as u32)
    }

    fn entry_standby(owner_pid: i32, index: u64, standby: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&owner_pid.to_ne_bytes());
        bytes.extend_from_slice(&(index as u32).to_ne_bytes()); // depth
        for counter in 1..=6u64 {
            bytes.extend_from_slice(&(index * 10 + counter).to_ne_bytes());
        }
        bytes.extend_from_slice(&(index as u32 + 100).to_ne_bytes()); // buckets
        bytes.extend_from_slice(&standby.to_ne_bytes());
        bytes.extend_from_slice(&(index as u32 + 7).to_ne_bytes()); // demotions
        bytes.extend_from_slice(&(index as u32 + 8).to_ne_bytes()); // promotions
        assert_eq!(bytes.len(), ENTRY_LEN);
        bytes
    }

    /// What the kernel would return for `queues` queues, owners 1000 + i (even i) or free,
    /// into a buffer of `capacity` bytes: the header and as many whole entries as fit.
    fn kernel_answer(queues: u32, capacity: usize) -> io::Result<Vec<u8>> {
        if capacity < HEADER_LEN {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut bytes = header(queues, 0, 0);
        for i in 0..queues as usize {
            if bytes.len() + ENTRY_LEN > capacity {
                break;
            }
            let owner = if i % 2 == 0 { 1000 + i as i32 } else { 0 };
            bytes.extend(entry(owner, i as u64));
        }
        Ok(bytes)
    }

    /// A fake `getsockopt` whose socket has `queues[call]` queues on successive calls.
    fn fake_kernel(
        queues: Vec<u32>,
    ) -> (
        impl FnMut(&mut [u8]) -> io::Result<usize>,
        std::rc::Rc<std::cell::Cell<usize>>,
    ) {
        let calls = std::rc::Rc::new(std::cell::Cell::new(0));
        let counter = calls.clone();
        let fetch = move |buf: &mut [u8]| {
            let call = counter.get();
            counter.set(call + 1);
            let answer = kernel_answer(queues[call.min(queues.len() - 1)], buf.len())?;
            buf[..answer.len()].copy_from_slice(&answer);
            Ok(answer.len())
        };
        (fetch, calls)
    }

    #[test]
    fn parses_header_and_entries() {
        let mut bytes = header(3, 4, 2);
        bytes.extend(entry(1234, 0));
        bytes.extend(entry(0, 1));
        bytes.extend(entry(-5, 2));
        let info = parse_info(&bytes).unwrap();
        assert_eq!(info.queues, 3);
        assert_eq!(info.hash, HashFn::Crc16);
        assert_eq!(info.input, HashInput::FourTuple);
        assert_eq!(info.registered, 2);
        assert_eq!((info.normal_queued, info.normal_accepted), (100, 99));
        assert_eq!(info.max_wait, MaxWait::Millis(200));
        assert_eq!(info.share, Some(43));
        assert!(info.is_complete());
        assert_eq!(
            info.queue_stats[0],
            QueueStats {
                index: 0,
                owner_pid: Some(1234),
                depth: 0,
                queued: 1,
                accepted: 2,
                moved: 3,
                wakeups: 4,
                expired: 5,
                overflowed: 6,
                buckets: 100,
                standby: false,
                demotions: 7,
                promotions: 8
            }
        );
        assert_eq!(info.queue_stats[1].owner_pid, None);
        assert_eq!(info.queue_stats[1].index, 1);
        assert_eq!(info.queue_stats[1].queued, 11);
        assert_eq!(info.queue_stats[1].overflowed, 16);
        assert_eq!(info.queue_stats[1].buckets, 101);
        assert!(info.queue_stats[1].standby);
        assert_eq!(
            (
                info.queue_stats[1].demotions,
                info.queue_stats[1].promotions
            ),
            (8, 9)
        );
        // A negative pid is no owner either (never written by the kernel, but not a pid).
        assert_eq!(info.queue_stats[2].owner_pid, None);
    }

    #[test]
    fn strict_mode_has_no_wait_and_no_share() {
        let info = parse_info(&header_bounds(1, 0, 0, 0, 0)).unwrap();
        assert_eq!(info.max_wait, MaxWait::Strict);
        assert_eq!(info.share, None);
        let info = parse_info(&header_bounds(1, 0, 0, 60_000, 1)).unwrap();
        assert_eq!(info.max_wait, MaxWait::Millis(60_000));
        assert_eq!(info.share, Some(1));
    }

    #[test]
    fn header_only_is_an_incomplete_answer() {
        let info = parse_info(&header(8, 0, 0)).unwrap();
        assert_eq!(info.queues, 8);
        assert!(info.queue_stats.is_empty());
        assert!(!info.is_complete());
    }

    #[test]
    fn rejects_what_the_kernel_never_writes() {
        let full = {
            let mut b = header(2, 0, 0);
            b.extend(entry(1, 0));
            b.extend(entry(2, 1));
            b
        };
        let err = |bytes: &[u8]| parse_info(bytes).unwrap_err().to_string();
        assert!(err(&full[..39]).contains("shorter than the 40-byte header"));
        // The old layout: a 32-byte header is too short.
        assert!(err(&full[..32]).contains("shorter than the 40-byte header"));
        assert!(err(&full[..40 + 71]).contains("not a multiple of the 72-byte entry"));
        // Two entries of the old 40-byte layout after the header.
        assert!(err(&full[..40 + 80]).contains("not a multiple of the 72-byte entry"));
        let mut extra = full.clone();
        extra.extend(entry(3, 2));
        assert!(err(&extra).contains("3 entries for 2 queues"));
        assert!(err(&header(1, 9, 0)).contains("unknown hash function 9"));
        assert!(err(&header(1, 0, 7)).contains("unknown hash input 7"));
        assert!(err(&header_bounds(1, 0, 0, 60_001, 1)).contains("max wait 60001 ms"));
        let mut bad_flag = header(2, 0, 0);
        bad_flag.extend(entry(1, 0));
        bad_flag.extend(entry_standby(2, 1, 2));
        assert!(err(&bad_flag).contains("standby flag 2 of queue 1"));
    }

    #[test]
    fn one_call_when_the_queues_fit() {
        let (fetch, calls) = fake_kernel(vec![5]);
        let info = read_info(fetch).unwrap();
        assert_eq!(calls.get(), 1);
        assert_eq!(info.queue_stats.len(), 5);
        assert_eq!(info.queue_stats[4].owner_pid, Some(1004));
    }

    #[test]
    fn grows_the_buffer_to_the_header_count() {
        let queues = INITIAL_ENTRIES as u32 + 36;
        let (fetch, calls) = fake_kernel(vec![queues]);
        let info = read_info(fetch).unwrap();
        assert_eq!(calls.get(), 2);
        assert!(info.is_complete());
        assert_eq!(info.queue_stats.len(), queues as usize);
        assert_eq!(info.queue_stats.last().unwrap().index, queues - 1);
    }

    #[test]
    fn follows_a_count_that_grows_between_calls_but_not_forever() {
        // Re-enabled with 200 queues between the first and second call: the second buffer
        // (100 entries) is too small again, the third fits.
        let (fetch, calls) = fake_kernel(vec![100, 200, 200]);
        let info = read_info(fetch).unwrap();
        assert_eq!(calls.get(), 3);
        assert!(info.is_complete());
        assert_eq!(info.queues, 200);

        let (fetch, calls) = fake_kernel(vec![100, 200, 300, 400, 500, 600]);
        let info = read_info(fetch).unwrap();
        assert_eq!(calls.get(), MAX_ATTEMPTS);
        // What the last attempt got: the header's total, and as many entries as fitted.
        assert_eq!(info.queues, 400);
        assert_eq!(info.queue_stats.len(), 300);
        assert!(!info.is_complete());
    }

    #[test]
    fn errors_of_the_call_are_typed() {
        let error =
            read_info(|_| Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT))).unwrap_err();
        assert!(error.is_unsupported());
        let error = read_info(|buf| Ok(buf.len() + 1)).unwrap_err();
        assert!(error.to_string().contains("exceeds"));
        // An absurd header count is refused before allocating for it.
        let error = read_info(|buf| {
            let h = header(u32::MAX, 0, 0);
            buf[..HEADER_LEN].copy_from_slice(&h);
            Ok(HEADER_LEN)
        })
        .unwrap_err();
        assert!(matches!(error, Error::Malformed { .. }), "{error}");
    }
}
