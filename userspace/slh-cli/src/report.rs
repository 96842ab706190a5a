// SPDX-License-Identifier: GPL-2.0
//! `slh info`: the readable table of a socket's queues and counters.

use std::fmt::Write as _;

use slh::config::{hash_fn_name, hash_input_name};
use std::os::fd::AsFd;

use slh::{Config, HashFn, HashInput, Info, MaxWait, Queues, SocketLevelHash};

use crate::fdgrab;
use crate::procnet::Target;

/// Prints the report of one socket, or returns why there is none (naming the socket).
pub fn show(target: &Target) -> Result<(), String> {
    let label = target.label();
    let socket = fdgrab::take_fd(target.pid, target.fd).map_err(|e| format!("{label}: {e}"))?;
    let local = fdgrab::check_listening_tcp(&socket).map_err(|e| format!("{label}: {e}"))?;
    let target = Target {
        local: target.local.or(local),
        ..target.clone()
    };
    let label = target.label();
    let socket = socket.as_fd();
    // The configuration first: it tells "off" apart from "no kernel support" before the
    // info call, whose answer on a socket without the option is an error.
    let text = match socket
        .sock_level_hash()
        .map_err(|e| format!("{label}: {e}"))?
    {
        None => format!("{label}\nsocket-level hash: off\n"),
        Some(_) => format_report(
            &label,
            &socket
                .sock_level_hash_info()
                .map_err(|e| format!("{label}: {e}"))?,
        ),
    };
    print!("{text}");
    Ok(())
}

/// What `slh set --queues` asks for: what is not given is kept from the socket's current
/// setting when the option is on, and is the kernel's default when it is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub queues: Queues,
    pub hash: Option<HashFn>,
    pub input: Option<HashInput>,
    pub max_wait: Option<MaxWait>,
}

impl Change {
    /// The configuration to set on a socket whose setting is `current` (`None`: off).
    pub fn apply_to(self, current: Option<Config>) -> Config {
        let base = current.unwrap_or_else(|| Config::new(self.queues, HashFn::Toeplitz));
        Config::new(self.queues, self.hash.unwrap_or(base.hash))
            .with_input(self.input.unwrap_or(base.input))
            .with_max_wait(self.max_wait.unwrap_or(base.max_wait))
    }
}

/// Applies `change` (None: off) to one socket; returns a line saying what it is now.
pub fn set(target: &Target, change: Option<Change>) -> Result<String, String> {
    let label = target.label();
    let socket = fdgrab::take_fd(target.pid, target.fd).map_err(|e| format!("{label}: {e}"))?;
    let local = fdgrab::check_listening_tcp(&socket).map_err(|e| format!("{label}: {e}"))?;
    let label = Target {
        local: target.local.or(local),
        ..target.clone()
    }
    .label();
    let socket = socket.as_fd();
    match change {
        None => socket.disable_sock_level_hash(),
        Some(change) => {
            // Unreadable (no kernel support): the set says why, in its own words.
            let current = socket.sock_level_hash().ok().flatten();
            socket.set_sock_level_hash(change.apply_to(current))
        }
    }
    .map_err(|e| format!("{label}: {e}"))?;
    Ok(
        match socket
            .sock_level_hash()
            .map_err(|e| format!("{label}: {e}"))?
        {
            None => format!("{label}: socket-level hash off"),
            Some(now) => format!(
                "{label}: socket-level hash on: {} queues, hash {}, input {}, max wait {}",
                now.queues,
                hash_fn_name(now.hash),
                hash_input_name(now.input),
                now.max_wait
            ),
        },
    )
}

/// The report: a title line, the configuration, the normal-queue counters, the bounds (max wait
/// and share), one row per queue. The rows' first seven columns are those of the reports from
/// before the bounds (scripts pick columns by position); the new ones follow.
pub fn format_report(title: &str, info: &Info) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{title}");
    let _ = writeln!(
        out,
        "socket-level hash: {} queues, hash {}, input {}, {} registered",
        info.queues,
        hash_fn_name(info.hash),
        hash_input_name(info.input),
        info.registered
    );
    let _ = writeln!(
        out,
        "normal queue: {} queued, {} accepted",
        info.normal_queued, info.normal_accepted
    );
    // "share unlimited": the strict mode (max wait 0), where no queue spills.
    let _ = writeln!(
        out,
        "bounds: max wait {}, share {}",
        info.max_wait,
        info.share
            .map_or_else(|| "unlimited".to_string(), |share| share.to_string())
    );
    let _ = writeln!(
        out,
        "{:>5} {:>9} {:>6} {:>10} {:>10} {:>8} {:>10} {:>7} {:>8} {:>10} {:>7} {:>9} {:>10}",
        "queue",
        "owner pid",
        "depth",
        "queued",
        "accepted",
        "moved",
        "wakeups",
        "buckets",
        "expired",
        "overflowed",
        "standby",
        "demotions",
        "promotions"
    );
    for queue in &info.queue_stats {
        let owner = queue
            .owner_pid
            .map_or_else(|| "-".to_string(), |pid| pid.to_string());
        let _ = writeln!(
            out,
            "{:>5} {:>9} {:>6} {:>10} {:>10} {:>8} {:>10} {:>7} {:>8} {:>10} {:>7} {:>9} {:>10}",
            queue.index,
            owner,
            queue.depth,
            queue.queued,
            queue.accepted,
            queue.moved,
            queue.wakeups,
            queue.buckets,
            queue.expired,
            queue.overflowed,
            u8::from(queue.standby),
            queue.demotions,
            queue.promotions
        );
    }
    if !info.is_complete() {
        let _ = writeln!(
            out,
            "({} of {} queues shown: the count changed while reading)",
            info.queue_stats.len(),
            info.queues
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header fields of a fake `SO_SOCKLEVELHASH_INFO` answer (`Info` is non-exhaustive:
    /// the tests build it as the kernel would, from bytes).
    pub(crate) struct Header {
        pub queues: u32,
        pub hash: HashFn,
        pub input: HashInput,
        pub registered: u32,
        pub normal: (u64, u64),
        pub max_wait: MaxWait,
        pub share: u32,
    }

    /// The info the kernel would report: per queue `(owner, queued, buckets)`, with depth =
    /// index, accepted = queued - 1, moved 2, wakeups 7, expired 3, overflowed 4, the buckets
    /// given (0 when free), standby on queue 1, demotions 5, promotions 6.
    pub(crate) fn info_with(header: Header, rows: &[(Option<u32>, u64, u32)]) -> Info {
        let mut bytes = Vec::new();
        for word in [
            header.queues,
            header.hash as u32,
            header.input as u32,
            header.registered,
        ] {
            bytes.extend_from_slice(&word.to_ne_bytes());
        }
        bytes.extend_from_slice(&header.normal.0.to_ne_bytes());
        bytes.extend_from_slice(&header.normal.1.to_ne_bytes());
        bytes.extend_from_slice(&header.max_wait.as_millis().to_ne_bytes());
        bytes.extend_from_slice(&header.share.to_ne_bytes());
        for (index, &(owner, queued, buckets)) in rows.iter().enumerate() {
            bytes.extend_from_slice(&(owner.unwrap_or(0) as i32).to_ne_bytes());
            bytes.extend_from_slice(&(index as u32).to_ne_bytes());
            for counter in [queued, queued.saturating_sub(1), 2, 7, 3, 4] {
                bytes.extend_from_slice(&counter.to_ne_bytes());
            }
            let buckets = if owner.is_some() { buckets } else { 0 };
            for word in [buckets, u32::from(index == 1), 5, 6] {
                bytes.extend_from_slice(&word.to_ne_bytes());
            }
        }
        slh::info::parse_info(&bytes).expect("a well-formed fake answer")
    }

    fn queue(_index: u32, owner: Option<u32>, queued: u64) -> (Option<u32>, u64, u32) {
        (owner, queued, 256)
    }

    #[test]
    fn one_row_per_queue_with_free_queues_marked() {
        let info = info_with(
            Header {
                queues: 2,
                hash: HashFn::XorFoldSrcDst,
                input: HashInput::ClientServerAddr,
                registered: 1,
                normal: (40, 39),
                max_wait: MaxWait::Millis(150),
                share: 64,
            },
            &[queue(0, Some(4242), 12345), queue(1, None, 0)],
        );
        let text = format_report("127.0.0.1:80 (pid 1 fd 3)", &info);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "127.0.0.1:80 (pid 1 fd 3)");
        assert_eq!(
            lines[1],
            "socket-level hash: 2 queues, hash xor-src-dst, input client-server, 1 registered"
        );
        assert_eq!(lines[2], "normal queue: 40 queued, 39 accepted");
        assert_eq!(lines[3], "bounds: max wait 150 ms, share 64");
        let header: Vec<&str> = lines[4].split_whitespace().collect();
        assert_eq!(
            header,
            [
                "queue",
                "owner",
                "pid",
                "depth",
                "queued",
                "accepted",
                "moved",
                "wakeups",
                "buckets",
                "expired",
                "overflowed",
                "standby",
                "demotions",
                "promotions"
            ]
        );
        let row0: Vec<&str> = lines[5].split_whitespace().collect();
        assert_eq!(
            row0,
            ["0", "4242", "0", "12345", "12344", "2", "7", "256", "3", "4", "0", "5", "6"]
        );
        let row1: Vec<&str> = lines[6].split_whitespace().collect();
        assert_eq!(
            row1,
            ["1", "-", "1", "0", "0", "2", "7", "0", "3", "4", "1", "5", "6"]
        );
        assert_eq!(lines.len(), 7);
        // Columns line up: every row as wide as the header.
        assert_eq!(lines[4].len(), lines[5].len());
        assert_eq!(lines[4].len(), lines[6].len());
    }

    #[test]
    fn strict_mode_shows_no_share_limit() {
        let info = info_with(
            Header {
                queues: 1,
                hash: HashFn::Toeplitz,
                input: HashInput::ClientAddr,
                registered: 1,
                normal: (0, 0),
                max_wait: MaxWait::Strict,
                share: 0,
            },
            &[queue(0, Some(1), 1)],
        );
        let text = format_report("t", &info);
        assert_eq!(
            text.lines().nth(3),
            Some("bounds: max wait 0 ms (strict), share unlimited")
        );
    }

    #[test]
    fn says_when_queues_are_missing() {
        let info = info_with(
            Header {
                queues: 3,
                hash: HashFn::Toeplitz,
                input: HashInput::ClientAddr,
                registered: 0,
                normal: (0, 0),
                max_wait: MaxWait::DEFAULT,
                share: 1,
            },
            &[queue(0, None, 1)],
        );
        assert!(format_report("t", &info).contains("(1 of 3 queues shown"));
    }
}
