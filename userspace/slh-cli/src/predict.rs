// SPDX-License-Identifier: MIT OR Apache-2.0
//! `slh predict`: the queue each client address reaches after each registration change, from
//! the same core code the kernel module runs (`HashFn::hash` of a `FlowKey`, then the
//! `IndirectionTable`'s lookup), so that a test can hold the kernel to it client by client.

use std::fmt::Write as _;
use std::net::IpAddr;

use slh::config::{hash_fn_name, hash_input_name};
use slh::{HashFn, HashInput};
use sock_level_hash_core::hash::FlowKey;
use sock_level_hash_core::table::{IndirectionTable, Slot, TableError};

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
        TableError::TooManySlots => "more than 1024 queues",
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
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn toeplitz_of_clients() -> Hashing {
        Hashing {
            hash: HashFn::Toeplitz,
            input: HashInput::ClientAddr,
            server: None,
        }
    }

    fn clients(n: u8) -> Vec<IpAddr> {
        (1..=n)
            .map(|i| IpAddr::V4(Ipv4Addr::new(198, 18, 1, i)))
            .collect()
    }

    #[test]
    fn events_parse() {
        assert_eq!(Event::parse("reg 3"), Ok(Event::Register(3)));
        assert_eq!(Event::parse(" reg  any "), Ok(Event::RegisterAny));
        assert_eq!(Event::parse("dereg 0"), Ok(Event::Deregister(0)));
        for bad in ["reg", "reg -1", "dereg any", "exit 1", "reg 1 2", ""] {
            assert!(Event::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Event::parse_list("reg any, reg any,dereg 0,"),
            Ok(vec![
                Event::RegisterAny,
                Event::RegisterAny,
                Event::Deregister(0)
            ])
        );
        assert!(Event::parse_list(" , ").is_err());
    }

    #[test]
    fn every_client_follows_the_core_table_after_every_step() {
        let clients = clients(200);
        let events = Event::parse_list("reg any,reg any,reg any,dereg 1,reg any,reg 5").unwrap();
        let steps = predict(8, &toeplitz_of_clients(), &events, &clients).unwrap();
        // The same operations done by hand on the core's table.
        let mut table = IndirectionTable::<256>::new(8).unwrap();
        let hashes: Vec<u32> = clients
            .iter()
            .map(|c| {
                let IpAddr::V4(a) = c else { unreachable!() };
                HashFn::Toeplitz.hash(&flow_v4(a.octets(), [0; 4]), HashInput::ClientAddr)
            })
            .collect();
        let expected_queue = [0, 1, 2, 1, 1, 5];
        let ops: [&dyn Fn(&mut IndirectionTable<256>) -> usize; 6] = [
            &|t| t.register(0).unwrap(),
            &|t| t.register(1).unwrap(),
            &|t| t.register(2).unwrap(),
            &|t| t.deregister(1).unwrap(),
            // "any" is the lowest free queue: 1 again.
            &|t| t.register(1).unwrap(),
            &|t| t.register(5).unwrap(),
        ];
        for (i, op) in ops.iter().enumerate() {
            let moved = op(&mut table);
            assert_eq!(steps[i].queue, expected_queue[i]);
            assert_eq!(steps[i].buckets_moved, moved);
            let lookups: Vec<Option<Slot>> = hashes.iter().map(|&h| table.lookup(h)).collect();
            assert_eq!(steps[i].queues, lookups, "step {}", i + 1);
        }
        // One registered queue takes every client; a newcomer's share is 256 / n buckets.
        assert!(steps[0].queues.iter().all(|q| *q == Some(0)));
        assert_eq!(steps[1].buckets_moved, 128);
        assert_eq!(steps[2].buckets_moved, 85);
    }

    #[test]
    fn a_leaver_moves_only_its_own_clients() {
        let clients = clients(250);
        let events = Event::parse_list("reg any,reg any,reg any,reg any,dereg 2").unwrap();
        let steps = predict(4, &toeplitz_of_clients(), &events, &clients).unwrap();
        let (before, after) = (&steps[3].queues, &steps[4].queues);
        for (b, a) in before.iter().zip(after) {
            if *b == Some(2) {
                assert_ne!(a, &Some(2));
                assert!(a.is_some());
            } else {
                assert_eq!(a, b);
            }
        }
        assert_eq!(steps[4].buckets_moved, 64);
    }

    #[test]
    fn mapped_ipv4_clients_hash_as_ipv4() {
        let v4: IpAddr = "198.18.1.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:198.18.1.7".parse().unwrap();
        let v6: IpAddr = "2001:db8::1:7".parse().unwrap();
        for hash in [
            HashFn::Toeplitz,
            HashFn::Crc16,
            HashFn::SrcIpMod,
            HashFn::XorFoldSrc,
        ] {
            let hashing = Hashing {
                hash,
                input: HashInput::ClientAddr,
                server: None,
            };
            assert_eq!(hashing.hash_of(v4), hashing.hash_of(mapped), "{hash:?}");
        }
        let hashing = toeplitz_of_clients();
        let IpAddr::V6(v6addr) = v6 else {
            unreachable!()
        };
        assert_eq!(
            hashing.hash_of(v6).unwrap(),
            HashFn::Toeplitz.hash(&flow_v6(v6addr.octets(), [0; 16]), HashInput::ClientAddr)
        );
        // A mapped server address pairs with a v4 client; a real v6 one does not.
        let with_server = |server: &str| Hashing {
            hash: HashFn::XorFoldSrcDst,
            input: HashInput::ClientAddr,
            server: Some(server.parse().unwrap()),
        };
        assert_eq!(
            with_server("::ffff:198.18.0.1").hash_of(mapped),
            with_server("198.18.0.1").hash_of(v4)
        );
        assert!(with_server("2001:db8::1")
            .hash_of(v4)
            .unwrap_err()
            .contains("different address families"));
    }

    #[test]
    fn server_address_is_hashed_when_the_setting_says_so() {
        let client: IpAddr = "198.18.1.9".parse().unwrap();
        let server = Ipv4Addr::new(198, 18, 0, 1);
        let hashing = Hashing {
            hash: HashFn::Toeplitz,
            input: HashInput::ClientServerAddr,
            server: Some(IpAddr::V4(server)),
        };
        assert_eq!(
            hashing.hash_of(client).unwrap(),
            HashFn::Toeplitz.hash(
                &flow_v4([198, 18, 1, 9], server.octets()),
                HashInput::ClientServerAddr
            )
        );
        let events = [Event::RegisterAny];
        let without_server = Hashing {
            server: None,
            ..hashing
        };
        assert!(predict(2, &without_server, &events, &[client])
            .unwrap_err()
            .contains("give --server"));
        let xor = Hashing {
            hash: HashFn::XorFoldSrcDst,
            input: HashInput::ClientAddr,
            server: None,
        };
        assert!(predict(2, &xor, &events, &[client]).is_err());
        let four = Hashing {
            input: HashInput::FourTuple,
            ..hashing
        };
        assert!(predict(2, &four, &events, &[client])
            .unwrap_err()
            .contains("client port"));
        // Functions with a fixed input ignore the four-tuple setting.
        let fixed = Hashing {
            hash: HashFn::SrcIpMod,
            input: HashInput::FourTuple,
            server: None,
        };
        assert!(predict(2, &fixed, &events, &[client]).is_ok());
    }

    #[test]
    fn impossible_events_are_reported_with_the_step() {
        let c = clients(3);
        let run = |events: &str| {
            predict(
                2,
                &toeplitz_of_clients(),
                &Event::parse_list(events).unwrap(),
                &c,
            )
        };
        assert!(run("reg 0,reg 0")
            .unwrap_err()
            .contains("event 2 (reg 0): the queue is already registered"));
        assert!(run("dereg 1").unwrap_err().contains("not registered"));
        assert!(run("reg 2").unwrap_err().contains("no such queue"));
        assert!(run("reg any,reg any,reg any")
            .unwrap_err()
            .contains("event 3 (reg any): every queue is registered"));
        assert!(predict(1025, &toeplitz_of_clients(), &[Event::RegisterAny], &c).is_err());
    }

    #[test]
    fn client_files_parse() {
        let parsed = parse_clients("# clients\n198.18.1.1\n\n  2001:db8::5  # v6\n").unwrap();
        assert_eq!(
            parsed,
            vec![
                IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1)),
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5))
            ]
        );
        assert!(parse_clients("198.18.1.1\nnot-an-address\n")
            .unwrap_err()
            .starts_with("line 2:"));
    }

    #[test]
    fn output_has_a_column_per_step_and_counts_moves() {
        let c = clients(4);
        let steps = vec![
            Step {
                event: Event::RegisterAny,
                queue: 0,
                buckets_moved: 256,
                queues: vec![Some(0); 4],
            },
            Step {
                event: Event::Register(3),
                queue: 3,
                buckets_moved: 128,
                queues: vec![Some(0), Some(3), Some(3), Some(0)],
            },
            Step {
                event: Event::Deregister(0),
                queue: 0,
                buckets_moved: 128,
                queues: vec![Some(3); 4],
            },
            Step {
                event: Event::Deregister(3),
                queue: 3,
                buckets_moved: 256,
                queues: vec![None; 4],
            },
        ];
        let text = format_prediction(&c, &steps);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "# step 1: reg any (queue 0): 256 of 256 buckets moved, 4 of 4 clients moved"
        );
        assert_eq!(
            lines[1],
            "# step 2: reg 3 (queue 3): 128 of 256 buckets moved, 2 of 4 clients moved"
        );
        assert_eq!(
            lines[2],
            "# step 3: dereg 0 (queue 0): 128 of 256 buckets moved, 2 of 4 clients moved"
        );
        assert_eq!(lines[4], "198.18.1.1 0 0 3 -");
        assert_eq!(lines[5], "198.18.1.2 0 3 3 -");
        assert_eq!(lines.len(), 8);
    }
}
