// SPDX-License-Identifier: MIT OR Apache-2.0
//! Unit tests of `slh predict`: events and client files parse, every client follows the core's
//! table after every step, and the output's columns.

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
