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
mod tests;
