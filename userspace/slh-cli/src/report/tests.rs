// SPDX-License-Identifier: MIT OR Apache-2.0
//! Unit tests of `slh info`'s report: the table's rows and owner lines, the holders, the JSON,
//! and what `slh set` keeps.

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
