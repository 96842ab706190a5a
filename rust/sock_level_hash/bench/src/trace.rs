// SPDX-License-Identifier: GPL-2.0
//! Connections of real traces, read in place from `../shared/data/`.
//!
//! Each connection becomes a [`FlowKey`] (client = source, server = destination, the direction
//! the server's listener sees) plus dense ids for its client, its (client, server) pair and
//! its 4-tuple: the keys an ideal random assignment is drawn over (see `balance`).

use sock_level_hash_core::hash::FlowKey;
use std::collections::HashMap;
use std::net::IpAddr;

/// One connection of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conn {
    /// What the hash functions see.
    pub key: FlowKey,
    /// Dense id of the client address, `0..Trace::n_clients`.
    pub client: u32,
    /// Dense id of the (client, server) address pair, `0..Trace::n_pairs`.
    pub pair: u32,
    /// Dense id of the 4-tuple, `0..Trace::n_tuples`.
    pub tuple: u32,
}

/// The connections of one trace and what reading it found.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Short name used in tables, CSV and plots.
    pub name: String,
    /// What was read and how (file, which columns, what counts as a connection).
    pub description: String,
    pub conns: Vec<Conn>,
    pub n_clients: usize,
    pub n_pairs: usize,
    pub n_tuples: usize,
    /// Whether the trace has ports (otherwise 4-tuple hashes are meaningless and skipped).
    pub has_ports: bool,
    /// Data rows read.
    pub rows: usize,
    /// Connections over IPv6.
    pub v6_conns: usize,
    /// Rows that could not be used (unparsable address, mixed address families), skipped.
    pub skipped: usize,
    /// Rows whose 4-tuple had already been seen (dropped when the trace counts 4-tuples).
    pub duplicates: usize,
}

/// Interns clients, pairs and tuples into dense ids while a trace is read.
#[derive(Default)]
struct Builder {
    clients: HashMap<IpAddr, u32>,
    pairs: HashMap<(IpAddr, IpAddr), u32>,
    tuples: HashMap<FlowKey, u32>,
    trace: Trace,
}

fn intern<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: K) -> (u32, bool) {
    let next = map.len() as u32;
    let mut fresh = false;
    let id = *map.entry(key).or_insert_with(|| {
        fresh = true;
        next
    });
    (id, fresh)
}

impl Builder {
    fn new(name: &str, description: String, has_ports: bool) -> Self {
        let mut builder = Self::default();
        builder.trace.name = name.to_owned();
        builder.trace.description = description;
        builder.trace.has_ports = has_ports;
        builder
    }

    /// Adds a connection from `client:sport` to `server:dport`; with `unique_tuples`, a
    /// repeated 4-tuple is counted as a duplicate and not added.
    fn push(
        &mut self,
        client: IpAddr,
        sport: u16,
        server: IpAddr,
        dport: u16,
        unique_tuples: bool,
    ) {
        self.trace.rows += 1;
        let key = match (client, server) {
            (IpAddr::V4(c), IpAddr::V4(s)) => FlowKey::V4 {
                src: c.octets(),
                dst: s.octets(),
                sport,
                dport,
            },
            (IpAddr::V6(c), IpAddr::V6(s)) => FlowKey::V6 {
                src: c.octets(),
                dst: s.octets(),
                sport,
                dport,
            },
            _ => {
                self.trace.skipped += 1;
                return;
            }
        };
        let (tuple, fresh) = intern(&mut self.tuples, key);
        if unique_tuples && !fresh {
            self.trace.duplicates += 1;
            return;
        }
        let (client_id, _) = intern(&mut self.clients, client);
        let (pair, _) = intern(&mut self.pairs, (client, server));
        if matches!(key, FlowKey::V6 { .. }) {
            self.trace.v6_conns += 1;
        }
        self.trace.conns.push(Conn {
            key,
            client: client_id,
            pair,
            tuple,
        });
    }

    fn finish(mut self) -> Trace {
        self.trace.n_clients = self.clients.len();
        self.trace.n_pairs = self.pairs.len();
        self.trace.n_tuples = self.tuples.len();
        self.trace
    }
}

/// A UMass YouTube trace (`unix_time youtube_server client_ip GETVIDEO video_id
/// content_server_ip`, space separated): one connection per request from the client (column
/// 3) to the YouTube server (column 2). The trace has no ports: the connections get source
/// port 0 and destination port 80, and every request counts (no 4-tuple deduplication).
pub fn parse_umass(name: &str, file: &str, text: &str) -> Trace {
    let description = format!(
        "{file}: one connection per request, client = column 3, server = column 2 (no ports)"
    );
    let mut builder = Builder::new(name, description, false);
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parsed = (
            fields.get(2).and_then(|f| f.parse::<IpAddr>().ok()),
            fields.get(1).and_then(|f| f.parse::<IpAddr>().ok()),
        );
        match parsed {
            (Some(client), Some(server)) => builder.push(client, 0, server, 80, false),
            _ => {
                builder.trace.rows += 1;
                builder.trace.skipped += 1;
            }
        }
    }
    builder.finish()
}

/// A Zeek TSV log (`#fields` header naming `id.orig_h id.orig_p id.resp_h id.resp_p`): one
/// connection per distinct 4-tuple (all TCP for `ssl.log`, so 4-tuple = 5-tuple), client =
/// originator. IPv4 and IPv6 rows are both used.
pub fn parse_zeek(name: &str, file: &str, text: &str) -> Result<Trace, String> {
    let fields_line = text
        .lines()
        .find_map(|line| line.strip_prefix("#fields"))
        .ok_or_else(|| format!("{file}: no #fields header"))?;
    let fields: Vec<&str> = fields_line.trim_start_matches('\t').split('\t').collect();
    let column = |name: &str| {
        fields
            .iter()
            .position(|&f| f == name)
            .ok_or_else(|| format!("{file}: no field {name} in #fields"))
    };
    let (orig_h, orig_p, resp_h, resp_p) = (
        column("id.orig_h")?,
        column("id.orig_p")?,
        column("id.resp_h")?,
        column("id.resp_p")?,
    );
    let description = format!(
        "{file}: one connection per distinct 5-tuple (id.orig_h:id.orig_p → id.resp_h:id.resp_p, TCP), client = id.orig_h"
    );
    let mut builder = Builder::new(name, description, true);
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let row: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| row.get(i).copied().unwrap_or("");
        let parsed = (
            get(orig_h).parse::<IpAddr>(),
            get(orig_p).parse::<u16>(),
            get(resp_h).parse::<IpAddr>(),
            get(resp_p).parse::<u16>(),
        );
        match parsed {
            (Ok(client), Ok(sport), Ok(server), Ok(dport)) => {
                builder.push(client, sport, server, dport, true)
            }
            _ => {
                builder.trace.rows += 1;
                builder.trace.skipped += 1;
            }
        }
    }
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umass_columns_and_ids() {
        let text = "\
1.0 63.22.65.73 140.8.48.66 GETVIDEO a 55.226.42.233
2.0 63.22.65.73 140.8.48.66 GETVIDEO b 55.1.113.123
3.0 63.22.65.74 140.8.48.66 GETVIDEO c 55.1.113.123
4.0 63.22.65.73 35.139.191.73 GETVIDEO d 55.253.185.27
5.0 not-an-ip 35.139.191.73 GETVIDEO d 55.253.185.27
";
        let t = parse_umass("u", "f.dat", text);
        assert_eq!((t.rows, t.skipped, t.conns.len()), (5, 1, 4));
        assert_eq!((t.n_clients, t.n_pairs), (2, 3));
        assert!(!t.has_ports);
        assert_eq!(
            t.conns[0].key,
            FlowKey::V4 {
                src: [140, 8, 48, 66],
                dst: [63, 22, 65, 73],
                sport: 0,
                dport: 80
            }
        );
        // Same client, other server: same client id, new pair id.
        assert_eq!(t.conns[2].client, t.conns[0].client);
        assert_ne!(t.conns[2].pair, t.conns[0].pair);
        assert_eq!(t.conns[1].pair, t.conns[0].pair);
        assert_eq!(t.conns[3].client, 1);
    }

    #[test]
    fn zeek_fields_ipv6_duplicates_and_bad_rows() {
        // Columns in another order than ssl.log's, to check they are looked up by name.
        let text = "\
#separator \\x09
#fields\tts\tid.resp_h\tid.resp_p\tid.orig_h\tid.orig_p\tversion
#types\ttime\taddr\tport\taddr\tport\tstring
1.0\t10.0.0.1\t443\t10.0.0.9\t40000\tTLSv12
1.1\t10.0.0.1\t443\t10.0.0.9\t40000\tTLSv12
1.2\t10.0.0.1\t443\t10.0.0.9\t40001\tTLSv12
1.3\t2001:db8::1\t443\t2001:db8::9\t50000\tTLSv13
1.4\t10.0.0.1\t443\t2001:db8::9\t50000\tTLSv13
1.5\t-\t443\t10.0.0.9\t40000\tTLSv12
#close\t2024
";
        let t = parse_zeek("z", "ssl.log", text).unwrap();
        assert_eq!(t.rows, 6);
        assert_eq!((t.duplicates, t.skipped, t.conns.len()), (1, 2, 3));
        assert_eq!(
            (t.n_clients, t.n_pairs, t.n_tuples, t.v6_conns),
            (2, 2, 3, 1)
        );
        assert!(t.has_ports);
        assert_eq!(
            t.conns[1].key,
            FlowKey::V4 {
                src: [10, 0, 0, 9],
                dst: [10, 0, 0, 1],
                sport: 40001,
                dport: 443
            }
        );
        assert!(matches!(
            t.conns[2].key,
            FlowKey::V6 {
                sport: 50000,
                dport: 443,
                ..
            }
        ));
    }

    #[test]
    fn zeek_without_fields_is_an_error() {
        assert!(parse_zeek("z", "x.log", "1\t2\n").is_err());
        let missing = "#fields\tts\tid.orig_h\n1\t10.0.0.1\n";
        assert!(parse_zeek("z", "x.log", missing)
            .unwrap_err()
            .contains("id.orig_p"));
    }
}
