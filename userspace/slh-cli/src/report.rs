// SPDX-License-Identifier: MIT OR Apache-2.0
//! `slh info`: the readable table of a socket's queues and counters (or its JSON), with the
//! processes that hold the socket next to those registered on it.

use std::fmt::Write as _;
use std::os::fd::{AsFd, AsRawFd};

use serde_json::{json, Value};
use slh::config::{hash_fn_name, hash_input_name};
use slh::{Config, HashFn, HashInput, Info, MaxWait, Queues, SocketLevelHash};
use sock_level_hash_core::table::DEFAULT_BUCKETS;

use crate::fdgrab;
use crate::procnet::{self, Holders, Target};

/// What `slh info` found out about one socket.
#[derive(Clone, Debug)]
pub struct Report {
    pub target: Target,
    /// The queues and counters; `None` when the option is off.
    pub info: Option<Info>,
    /// Who holds the socket, or why that could not be found out.
    pub holders: Result<Holders, String>,
}

/// Reads one socket's report, or returns why there is none (naming the socket).
pub fn gather(target: &Target) -> Result<Report, String> {
    let label = target.label();
    let socket = fdgrab::take_fd(target.pid, target.fd).map_err(|e| format!("{label}: {e}"))?;
    let local = fdgrab::check_listening_tcp(&socket).map_err(|e| format!("{label}: {e}"))?;
    let target = Target {
        local: target.local.or(local),
        ..target.clone()
    };
    let label = target.label();
    let holders = procnet::holders_of(socket.as_raw_fd(), Some(std::process::id() as i32))
        .map_err(|e| format!("scanning /proc: {e}"));
    let socket = socket.as_fd();
    // The configuration first: it tells "off" apart from "no kernel support" before the
    // info call, whose answer on a socket without the option is an error.
    let info = match socket
        .sock_level_hash()
        .map_err(|e| format!("{label}: {e}"))?
    {
        None => None,
        Some(_) => Some(
            socket
                .sock_level_hash_info()
                .map_err(|e| format!("{label}: {e}"))?,
        ),
    };
    Ok(Report {
        target,
        info,
        holders,
    })
}

/// The text report: [`format_report`] (or the "off" line), then the buckets per owner and
/// the holders (lines that start with a word, so that scripts picking queue rows by a number
/// in the first column never take them).
pub fn format_text(report: &Report) -> String {
    let label = report.target.label();
    let mut out = match &report.info {
        None => format!("{label}\nsocket-level hash: off\n"),
        Some(info) => {
            let mut out = format_report(&label, info);
            let _ = writeln!(out, "{}", owners_line(info));
            out
        }
    };
    let registered = report.info.as_ref().map(owner_pids).unwrap_or_default();
    match &report.holders {
        Ok(holders) => out.push_str(&holders_lines(holders, &registered)),
        Err(message) => {
            let _ = writeln!(out, "holders: unknown ({message})");
        }
    }
    out
}

/// The registered processes, in queue order.
fn owner_pids(info: &Info) -> Vec<i32> {
    info.queue_stats
        .iter()
        .filter_map(|q| q.owner_pid)
        .map(|pid| pid as i32)
        .collect()
}

/// `owners: PID N buckets, ...; M buckets unowned`: each registered process's share of the
/// indirection table (behind a NAT a few owners hold the clients' buckets), standby marked.
fn owners_line(info: &Info) -> String {
    let owners: Vec<String> = info
        .queue_stats
        .iter()
        .filter_map(|q| {
            let pid = q.owner_pid?;
            let standby = if q.standby { " (standby)" } else { "" };
            Some(format!("{pid} {} buckets{standby}", q.buckets))
        })
        .collect();
    let mut line = if owners.is_empty() {
        "owners: none".to_string()
    } else {
        format!("owners: {}", owners.join(", "))
    };
    if info.is_complete() {
        let owned: usize = info.queue_stats.iter().map(|q| q.buckets as usize).sum();
        let _ = write!(
            line,
            "; {} of {DEFAULT_BUCKETS} buckets unowned",
            DEFAULT_BUCKETS.saturating_sub(owned)
        );
    }
    line
}

fn pid_list(pids: &[i32]) -> String {
    if pids.is_empty() {
        "none".to_string()
    } else {
        pids.iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `holders: PIDS; not registered: PIDS` and, when some processes could not be looked at, a
/// line saying so rather than a list that looks complete.
fn holders_lines(holders: &Holders, registered: &[i32]) -> String {
    let not_registered: Vec<i32> = holders
        .pids
        .iter()
        .copied()
        .filter(|pid| !registered.contains(pid))
        .collect();
    let mut out = format!(
        "holders: {} ({} processes); not registered: {}",
        pid_list(&holders.pids),
        holders.pids.len(),
        pid_list(&not_registered)
    );
    let not_holding: Vec<i32> = registered
        .iter()
        .copied()
        .filter(|pid| !holders.pids.contains(pid))
        .collect();
    if !not_holding.is_empty() {
        let _ = write!(
            out,
            "; registered without a descriptor seen: {}",
            pid_list(&not_holding)
        );
    }
    out.push('\n');
    if holders.unreadable > 0 {
        let _ = writeln!(
            out,
            "holders: incomplete: the descriptors of {} processes are not readable without \
             root or CAP_SYS_PTRACE, and any of them may hold the socket",
            holders.unreadable
        );
    }
    out
}

/// One socket as a JSON object (`slh info --json` prints an array of them, as `ip -j` does).
pub fn to_json(report: &Report) -> Value {
    let target = &report.target;
    let mut object = json!({
        "address": target.local.map(|a| a.to_string()),
        "pid": target.pid,
        "fd": target.fd,
        "enabled": report.info.is_some(),
    });
    let registered = report.info.as_ref().map(owner_pids).unwrap_or_default();
    if let Some(info) = &report.info {
        let queues: Vec<Value> = info
            .queue_stats
            .iter()
            .map(|q| {
                json!({
                    "queue": q.index,
                    "owner_pid": q.owner_pid,
                    "depth": q.depth,
                    "queued": q.queued,
                    "accepted": q.accepted,
                    "moved": q.moved,
                    "wakeups": q.wakeups,
                    "buckets": q.buckets,
                    "expired": q.expired,
                    "overflowed": q.overflowed,
                    "standby": q.standby,
                    "demotions": q.demotions,
                    "promotions": q.promotions,
                })
            })
            .collect();
        let owners: Vec<Value> = info
            .queue_stats
            .iter()
            .filter_map(|q| {
                Some(json!({
                    "pid": q.owner_pid?,
                    "queue": q.index,
                    "buckets": q.buckets,
                    "standby": q.standby,
                }))
            })
            .collect();
        let owned: usize = info.queue_stats.iter().map(|q| q.buckets as usize).sum();
        let fields = json!({
            "queues": info.queues,
            "hash": hash_fn_name(info.hash),
            "input": hash_input_name(info.input),
            "registered": info.registered,
            "normal_queue": {
                "queued": info.normal_queued,
                "accepted": info.normal_accepted,
            },
            "max_wait_ms": info.max_wait.as_millis(),
            "strict": info.max_wait.is_strict(),
            "share": info.share,
            "complete": info.is_complete(),
            "queue_stats": queues,
            "owners": owners,
            "unowned_buckets": info
                .is_complete()
                .then(|| DEFAULT_BUCKETS.saturating_sub(owned)),
        });
        merge(&mut object, fields);
    }
    let holders = match &report.holders {
        Ok(holders) => json!({
            "pids": holders.pids,
            "not_registered": holders
                .pids
                .iter()
                .filter(|pid| !registered.contains(pid))
                .collect::<Vec<_>>(),
            "registered_not_seen": registered
                .iter()
                .filter(|pid| !holders.pids.contains(pid))
                .collect::<Vec<_>>(),
            "unreadable_processes": holders.unreadable,
            "complete": holders.unreadable == 0,
        }),
        Err(message) => json!({ "error": message }),
    };
    merge(&mut object, json!({ "holders": holders }));
    object
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
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

    fn four_owners() -> Info {
        info_with(
            Header {
                queues: 4,
                hash: HashFn::Toeplitz,
                input: HashInput::ClientAddr,
                registered: 3,
                normal: (5, 4),
                max_wait: MaxWait::DEFAULT,
                share: 32,
            },
            // Queue 1 is on standby (info_with): registered, without buckets.
            &[
                (Some(4242), 10, 128),
                (Some(4243), 0, 0),
                (None, 0, 0),
                (Some(4245), 3, 64),
            ],
        )
    }

    fn report(info: Option<Info>, holders: Result<Holders, String>) -> Report {
        Report {
            target: Target {
                pid: 4241,
                fd: 3,
                local: Some("127.0.0.1:8080".parse().unwrap()),
            },
            info,
            holders,
        }
    }

    #[test]
    fn owners_show_their_buckets_and_the_rest_is_unowned() {
        assert_eq!(
            owners_line(&four_owners()),
            "owners: 4242 128 buckets, 4243 0 buckets (standby), 4245 64 buckets; \
             64 of 256 buckets unowned"
        );
    }

    #[test]
    fn holders_next_to_the_registered_processes() {
        let holders = Holders {
            pids: vec![4241, 4242, 4243],
            unreadable: 0,
        };
        let text = format_text(&report(Some(four_owners()), Ok(holders)));
        let lines: Vec<&str> = text.lines().collect();
        // The table as before, then the new lines, none of which looks like a queue row.
        assert_eq!(lines[0], "127.0.0.1:8080 (pid 4241 fd 3)");
        assert_eq!(lines.len(), 5 + 4 + 2);
        assert!(lines[9].starts_with("owners: 4242 128 buckets"));
        assert_eq!(
            lines[10],
            "holders: 4241 4242 4243 (3 processes); not registered: 4241; \
             registered without a descriptor seen: 4245"
        );
        for line in &lines[9..] {
            let first = line.split_whitespace().next().unwrap();
            assert!(first.parse::<u64>().is_err() && first != "queue", "{line}");
        }
    }

    #[test]
    fn says_when_it_could_not_see_every_holder() {
        let holders = Holders {
            pids: vec![4241],
            unreadable: 12,
        };
        let text = format_text(&report(None, Ok(holders)));
        assert_eq!(
            text,
            "127.0.0.1:8080 (pid 4241 fd 3)\n\
             socket-level hash: off\n\
             holders: 4241 (1 processes); not registered: 4241\n\
             holders: incomplete: the descriptors of 12 processes are not readable without \
             root or CAP_SYS_PTRACE, and any of them may hold the socket\n"
        );
        let text = format_text(&report(None, Err("scanning /proc: denied".into())));
        assert!(
            text.ends_with("holders: unknown (scanning /proc: denied)\n"),
            "{text}"
        );
    }

    #[test]
    fn json_has_every_field_of_the_table_and_the_holders() {
        let holders = Holders {
            pids: vec![4241, 4242, 4243],
            unreadable: 2,
        };
        let value = to_json(&report(Some(four_owners()), Ok(holders)));
        // One line that parses back.
        let line = value.to_string();
        assert!(!line.contains('\n'));
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["address"], "127.0.0.1:8080");
        assert_eq!(
            (value["pid"].as_i64(), value["fd"].as_i64()),
            (Some(4241), Some(3))
        );
        assert_eq!(value["enabled"], true);
        assert_eq!(value["queues"], 4);
        assert_eq!(value["hash"], "toeplitz");
        assert_eq!(value["input"], "client");
        assert_eq!(value["registered"], 3);
        assert_eq!(value["normal_queue"], json!({"queued": 5, "accepted": 4}));
        assert_eq!(
            (value["max_wait_ms"].as_u64(), value["strict"].as_bool()),
            (Some(200), Some(false))
        );
        assert_eq!(value["share"], 32);
        assert_eq!(value["complete"], true);
        assert_eq!(
            value["queue_stats"][0],
            json!({
                "queue": 0, "owner_pid": 4242, "depth": 0, "queued": 10, "accepted": 9,
                "moved": 2, "wakeups": 7, "buckets": 128, "expired": 3, "overflowed": 4,
                "standby": false, "demotions": 5, "promotions": 6
            })
        );
        assert_eq!(value["queue_stats"][2]["owner_pid"], Value::Null);
        assert_eq!(
            value["owners"],
            json!([
                {"pid": 4242, "queue": 0, "buckets": 128, "standby": false},
                {"pid": 4243, "queue": 1, "buckets": 0, "standby": true},
                {"pid": 4245, "queue": 3, "buckets": 64, "standby": false}
            ])
        );
        assert_eq!(value["unowned_buckets"], 64);
        assert_eq!(
            value["holders"],
            json!({
                "pids": [4241, 4242, 4243],
                "not_registered": [4241],
                "registered_not_seen": [4245],
                "unreadable_processes": 2,
                "complete": false
            })
        );

        let off = to_json(&report(None, Err("no /proc".into())));
        assert_eq!(
            off,
            json!({
                "address": "127.0.0.1:8080", "pid": 4241, "fd": 3, "enabled": false,
                "holders": {"error": "no /proc"}
            })
        );
    }

    #[test]
    fn set_keeps_what_it_is_not_told_to_change() {
        let queues = |n| Queues::count(n).unwrap();
        let current = Config::new(queues(4), HashFn::Crc16)
            .with_input(HashInput::FourTuple)
            .with_max_wait(MaxWait::Strict);
        let only_queues = Change {
            queues: queues(8),
            hash: None,
            input: None,
            max_wait: None,
        };
        assert_eq!(
            only_queues.apply_to(Some(current)),
            current.with_queues(queues(8))
        );
        // Off before: the kernel's defaults.
        assert_eq!(
            only_queues.apply_to(None),
            Config::new(queues(8), HashFn::Toeplitz)
        );
        let everything = Change {
            queues: Queues::PerCpu,
            hash: Some(HashFn::SrcIpMod),
            input: Some(HashInput::ClientServerAddr),
            max_wait: Some(MaxWait::Millis(50)),
        };
        let expected = Config::new(Queues::PerCpu, HashFn::SrcIpMod)
            .with_input(HashInput::ClientServerAddr)
            .with_max_wait(MaxWait::Millis(50));
        assert_eq!(everything.apply_to(Some(current)), expected);
        assert_eq!(everything.apply_to(None), expected);
    }
}
