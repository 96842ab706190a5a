// SPDX-License-Identifier: MIT OR Apache-2.0
//! `slh predict`: the queue each client address reaches after each registration change, from
//! the same core code the kernel module runs (`HashFn::hash` of a `FlowKey`, then the
//! `IndirectionTable`'s lookup), so that a test can hold the kernel to it client by client.

use std::fmt::Write as _;
use std::net::IpAddr;

use slh::config::{hash_fn_name, hash_input_name};
use slh::{HashFn, HashInput};
use sock_level_hash_core::hash::FlowKey;
use sock_level_hash_core::table::{IndirectionTable, Slot, TableError, MAX_QUEUES};

/// One change of a listener's registrations, as `SO_SOCKADDLSPH` (or a process's exit) makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A process registers to this queue.
    Register(Slot),
    /// A process registers to any free queue (the kernel takes the lowest free one).
    RegisterAny,
    /// The owner of this queue deregisters or exits.
    Deregister(Slot),
}

impl Event {
    /// `reg N`, `reg any` or `dereg N`.
    pub fn parse(text: &str) -> Result<Event, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let index = |word: &str| {
            word.parse::<Slot>()
                .map_err(|_| format!("event {text:?}: {word:?} is not a queue index"))
        };
        match words.as_slice() {
            ["reg", "any"] => Ok(Event::RegisterAny),
            ["reg", n] => Ok(Event::Register(index(n)?)),
            ["dereg", n] => Ok(Event::Deregister(index(n)?)),
            _ => Err(format!(
                "event {text:?}: expected \"reg N\", \"reg any\" or \"dereg N\""
            )),
        }
    }

    /// A comma-separated list of events.
    pub fn parse_list(text: &str) -> Result<Vec<Event>, String> {
        let events: Vec<Event> = text
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Event::parse)
            .collect::<Result<_, _>>()?;
        if events.is_empty() {
            return Err("no events given".into());
        }
        Ok(events)
    }
}

/// What the prediction hashes: the listener's hash function and input, and its address (which
/// the hashes over client and server address need).
#[derive(Clone, Copy, Debug)]
pub struct Hashing {
    pub hash: HashFn,
    pub input: HashInput,
    pub server: Option<IpAddr>,
}

impl Hashing {
    /// Refuses settings under which a client address has no fixed queue, or that lack the
    /// server address they hash.
    fn check(&self) -> Result<(), String> {
        if self.hash.uses_input() && self.input == HashInput::FourTuple {
            return Err(format!(
                "hash {} over the four-tuple depends on each connection's client port: a client \
                 address has no fixed queue to predict",
                hash_fn_name(self.hash)
            ));
        }
        let needs_server = self.hash == HashFn::XorFoldSrcDst
            || (self.hash.uses_input() && self.input == HashInput::ClientServerAddr);
        if needs_server && self.server.is_none() {
            return Err(format!(
                "hash {} with input {} hashes the server address too: give --server",
                hash_fn_name(self.hash),
                hash_input_name(self.input)
            ));
        }
        Ok(())
    }

    /// The hash the kernel computes for a connection from `client`.
    ///
    /// As the kernel does, an IPv4-mapped IPv6 address (a v4 client of a dual-stack listener)
    /// is hashed as the 4-byte IPv4 address. The ports are left 0: no accepted setting hashes
    /// them (see [`Hashing::check`]).
    fn hash_of(&self, client: IpAddr) -> Result<u32, String> {
        let key = match (client.to_canonical(), self.server.map(|s| s.to_canonical())) {
            (IpAddr::V4(src), None) => flow_v4(src.octets(), [0; 4]),
            (IpAddr::V4(src), Some(IpAddr::V4(dst))) => flow_v4(src.octets(), dst.octets()),
            (IpAddr::V6(src), None) => flow_v6(src.octets(), [0; 16]),
            (IpAddr::V6(src), Some(IpAddr::V6(dst))) => flow_v6(src.octets(), dst.octets()),
            (client, Some(server)) => {
                return Err(format!(
                    "client {client} and server {server} are of different address families"
                ))
            }
        };
        Ok(self.hash.hash(&key, self.input))
    }
}

fn flow_v4(src: [u8; 4], dst: [u8; 4]) -> FlowKey {
    FlowKey::V4 {
        src,
        dst,
        sport: 0,
        dport: 0,
    }
}

fn flow_v6(src: [u8; 16], dst: [u8; 16]) -> FlowKey {
    FlowKey::V6 {
        src,
        dst,
        sport: 0,
        dport: 0,
    }
}

/// The table after one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub event: Event,
    /// The queue a `RegisterAny` got; the named queue otherwise.
    pub queue: Slot,
    pub buckets_moved: usize,
    /// Per client (in input order): its queue after the event, `None` for the normal queue.
    pub queues: Vec<Option<Slot>>,
}

/// Applies `events` in order to a fresh table of `n_queues` queues (the kernel's 256 buckets)
/// and looks every client up after each.
pub fn predict(
    n_queues: usize,
    hashing: &Hashing,
    events: &[Event],
    clients: &[IpAddr],
) -> Result<Vec<Step>, String> {
    hashing.check()?;
    let hashes: Vec<u32> = clients
        .iter()
        .map(|&client| hashing.hash_of(client))
        .collect::<Result<_, _>>()?;
    let mut table =
        IndirectionTable::<256>::new(n_queues).map_err(|e| table_error(e, "the queue count"))?;
    let mut steps = Vec::with_capacity(events.len());
    for (number, &event) in events.iter().enumerate() {
        let what = format!("event {} ({})", number + 1, event_text(event));
        let (queue, buckets_moved) = match event {
            Event::Register(slot) => (slot, table.register(slot)),
            Event::Deregister(slot) => (slot, table.deregister(slot)),
            Event::RegisterAny => match table.register_any() {
                Ok((slot, moved)) => (slot, Ok(moved)),
                Err(error) => return Err(table_error(error, &what)),
            },
        };
        let buckets_moved = buckets_moved.map_err(|e| table_error(e, &what))?;
        steps.push(Step {
            event,
            queue,
            buckets_moved,
            queues: hashes.iter().map(|&hash| table.lookup(hash)).collect(),
        });
    }
    Ok(steps)
}

fn table_error(error: TableError, what: &str) -> String {
    let why = match error {
        TableError::TooManySlots => return format!("{what}: more than {MAX_QUEUES} queues"),
        TableError::SlotOutOfRange => "no such queue",
        TableError::AlreadyRegistered => "the queue is already registered",
        TableError::NotRegistered => "the queue is not registered",
        TableError::NoFreeSlot => "every queue is registered (the kernel says ENOSPC)",
        // Standby is no event of `predict`; the table's errors are matched in full all the same.
        TableError::OnStandby => "the queue's owner is on standby already",
        TableError::NotOnStandby => "the queue's owner is not on standby",
    };
    format!("{what}: {why}")
}

fn event_text(event: Event) -> String {
    match event {
        Event::Register(slot) => format!("reg {slot}"),
        Event::RegisterAny => "reg any".into(),
        Event::Deregister(slot) => format!("dereg {slot}"),
    }
}

/// The client addresses of a file: one per line; blank lines and `#` comments are skipped.
pub fn parse_clients(text: &str) -> Result<Vec<IpAddr>, String> {
    text.lines()
        .enumerate()
        .map(|(number, line)| (number, line.split('#').next().unwrap_or("").trim()))
        .filter(|(_, line)| !line.is_empty())
        .map(|(number, line)| {
            line.parse()
                .map_err(|_| format!("line {}: {line:?} is not an IP address", number + 1))
        })
        .collect()
}

/// The output: a `#` line per step (event, queue, buckets and clients moved), then one line
/// per client: its address and its queue after each step (`-`: the normal queue).
pub fn format_prediction(clients: &[IpAddr], steps: &[Step]) -> String {
    let mut out = String::new();
    let mut before: Vec<Option<Slot>> = vec![None; clients.len()];
    for (number, step) in steps.iter().enumerate() {
        let moved = before
            .iter()
            .zip(&step.queues)
            .filter(|(a, b)| a != b)
            .count();
        let _ = writeln!(
            out,
            "# step {}: {} (queue {}): {} of 256 buckets moved, {} of {} clients moved",
            number + 1,
            event_text(step.event),
            step.queue,
            step.buckets_moved,
            moved,
            clients.len()
        );
        before.clone_from(&step.queues);
    }
    for (index, client) in clients.iter().enumerate() {
        let _ = write!(out, "{client}");
        for step in steps {
            match step.queues[index] {
                Some(queue) => {
                    let _ = write!(out, " {queue}");
                }
                None => out.push_str(" -"),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
