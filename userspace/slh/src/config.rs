// SPDX-License-Identifier: GPL-2.0
//! What `SO_SOCKLEVELHASH` is set to: queue count, hash function, hash input; and the names the
//! tools use for them on command lines and in environment variables.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Op};
use crate::uapi::{SockLevelHash, MAX_QUEUES, QUEUES_PER_CPU};
use crate::{HashFn, HashInput};

/// How many priority queues a listen socket gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queues {
    /// One per possible CPU (`nr_cpu_ids`), as in the paper. Few on small machines: a server
    /// with more workers than CPUs wants [`Queues::Count`].
    PerCpu,
    /// Exactly this many, `1..=1024`.
    Count(u32),
}

impl Queues {
    /// The `SO_SOCKLEVELHASH` int / `queues` field value; refuses what the kernel would.
    pub fn to_raw(self, op: Op) -> Result<i32, Error> {
        match self {
            Queues::PerCpu => Ok(QUEUES_PER_CPU),
            Queues::Count(n @ 1..=MAX_QUEUES) => Ok(n as i32),
            Queues::Count(n) => Err(Error::OutOfRange {
                op,
                what: "queue count",
                value: i64::from(n),
                allowed: "1..=1024, or one per CPU",
            }),
        }
    }
}

impl FromStr for Queues {
    type Err = String;

    /// `cpus` (or `-1`) for one per CPU, otherwise a count in `1..=1024`.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text == "cpus" || text == "-1" {
            return Ok(Queues::PerCpu);
        }
        match text.parse::<u32>() {
            Ok(n @ 1..=MAX_QUEUES) => Ok(Queues::Count(n)),
            _ => Err(format!(
                "invalid queue count {text:?}: expected 1..=1024 or \"cpus\""
            )),
        }
    }
}

impl fmt::Display for Queues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Queues::PerCpu => f.write_str("one per CPU"),
            Queues::Count(n) => write!(f, "{n}"),
        }
    }
}

/// A full configuration (the extended `struct sock_level_hash`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub queues: Queues,
    pub hash: HashFn,
    pub input: HashInput,
}

impl Config {
    /// `queues` queues with `hash` over the client address (the persistent default input).
    pub fn new(queues: Queues, hash: HashFn) -> Self {
        Config {
            queues,
            hash,
            input: HashInput::ClientAddr,
        }
    }

    /// The value to pass to `setsockopt`.
    pub fn to_raw(self, op: Op) -> Result<SockLevelHash, Error> {
        Ok(SockLevelHash {
            queues: self.queues.to_raw(op)?,
            hash: self.hash as u32,
            input: self.input as u32,
            flags: 0,
        })
    }

    /// Reads back what `getsockopt` returned: `None` when the option is off.
    pub fn from_raw(raw: SockLevelHash, op: Op) -> Result<Option<Self>, Error> {
        let malformed = |detail: String| Error::Malformed { op, detail };
        let queues = match raw.queues {
            0 => return Ok(None),
            n if n > 0 => Queues::Count(n as u32),
            n => {
                return Err(malformed(format!(
                    "queue count {n} (never negative when read)"
                )))
            }
        };
        let hash = HashFn::try_from(raw.hash)
            .map_err(|e| malformed(format!("unknown hash function {}", e.0)))?;
        let input = HashInput::try_from(raw.input)
            .map_err(|e| malformed(format!("unknown hash input {}", e.0)))?;
        Ok(Some(Config {
            queues,
            hash,
            input,
        }))
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.queues {
            Queues::PerCpu => f.write_str("one queue per CPU")?,
            Queues::Count(n) => write!(f, "{n} queues")?,
        }
        write!(
            f,
            ", hash {}, input {}",
            hash_fn_name(self.hash),
            hash_input_name(self.input)
        )
    }
}

const HASH_FN_NAMES: [(HashFn, &str); 5] = [
    (HashFn::Toeplitz, "toeplitz"),
    (HashFn::SrcIpMod, "src-ip-mod"),
    (HashFn::XorFoldSrc, "xor-src"),
    (HashFn::XorFoldSrcDst, "xor-src-dst"),
    (HashFn::Crc16, "crc16"),
];

const HASH_INPUT_NAMES: [(HashInput, &str); 3] = [
    (HashInput::ClientAddr, "client"),
    (HashInput::ClientServerAddr, "client-server"),
    (HashInput::FourTuple, "four-tuple"),
];

/// The command-line name of a hash function: `toeplitz`, `src-ip-mod`, `xor-src`,
/// `xor-src-dst`, `crc16`.
pub fn hash_fn_name(hash: HashFn) -> &'static str {
    HASH_FN_NAMES
        .iter()
        .find(|(h, _)| *h == hash)
        .map_or("?", |(_, name)| name)
}

/// The command-line name of a hash input: `client`, `client-server`, `four-tuple`.
pub fn hash_input_name(input: HashInput) -> &'static str {
    HASH_INPUT_NAMES
        .iter()
        .find(|(i, _)| *i == input)
        .map_or("?", |(_, name)| name)
}

/// Parses [`hash_fn_name`]'s names (case-insensitive) or the uapi number.
pub fn parse_hash_fn(text: &str) -> Result<HashFn, String> {
    let text = text.trim();
    HASH_FN_NAMES
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(text))
        .map(|(hash, _)| *hash)
        .or_else(|| {
            text.parse::<u32>()
                .ok()
                .and_then(|n| HashFn::try_from(n).ok())
        })
        .ok_or_else(|| {
            format!(
                "unknown hash {text:?}: expected one of {}",
                names(HASH_FN_NAMES.iter().map(|(_, n)| *n))
            )
        })
}

/// Parses [`hash_input_name`]'s names (case-insensitive) or the uapi number.
pub fn parse_hash_input(text: &str) -> Result<HashInput, String> {
    let text = text.trim();
    HASH_INPUT_NAMES
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(text))
        .map(|(input, _)| *input)
        .or_else(|| {
            text.parse::<u32>()
                .ok()
                .and_then(|n| HashInput::try_from(n).ok())
        })
        .ok_or_else(|| {
            format!(
                "unknown hash input {text:?}: expected one of {}",
                names(HASH_INPUT_NAMES.iter().map(|(_, n)| *n))
            )
        })
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_counts_map_to_the_uapi_int() {
        assert_eq!(Queues::PerCpu.to_raw(Op::Enable).unwrap(), -1);
        assert_eq!(Queues::Count(1).to_raw(Op::Enable).unwrap(), 1);
        assert_eq!(Queues::Count(1024).to_raw(Op::Enable).unwrap(), 1024);
        // 0 would mean "off" to the kernel: it must not be reachable through Count.
        for bad in [0, 1025, u32::MAX] {
            let error = Queues::Count(bad).to_raw(Op::Enable).unwrap_err();
            assert!(matches!(error, Error::OutOfRange { .. }), "{bad}");
            assert_eq!(error.errno(), Some(libc::EINVAL));
            assert!(error.to_string().contains(&format!("queue count {bad}")));
        }
    }

    #[test]
    fn queue_counts_parse() {
        assert_eq!("64".parse::<Queues>(), Ok(Queues::Count(64)));
        assert_eq!(" cpus ".parse::<Queues>(), Ok(Queues::PerCpu));
        assert_eq!("-1".parse::<Queues>(), Ok(Queues::PerCpu));
        for bad in ["0", "1025", "-2", "x", ""] {
            assert!(bad.parse::<Queues>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn config_round_trips_through_the_struct() {
        let config = Config {
            queues: Queues::Count(8),
            hash: HashFn::Crc16,
            input: HashInput::FourTuple,
        };
        let raw = config.to_raw(Op::Enable).unwrap();
        assert_eq!(
            raw,
            SockLevelHash {
                queues: 8,
                hash: 4,
                input: 2,
                flags: 0
            }
        );
        assert_eq!(Config::from_raw(raw, Op::ReadConfig).unwrap(), Some(config));
        assert_eq!(config.to_string(), "8 queues, hash crc16, input four-tuple");
        let per_cpu = Config::new(Queues::PerCpu, HashFn::Toeplitz);
        assert_eq!(
            per_cpu.to_string(),
            "one queue per CPU, hash toeplitz, input client"
        );
        assert_eq!(per_cpu.to_raw(Op::Enable).unwrap().queues, -1);
        assert_eq!(per_cpu.input, HashInput::ClientAddr);
    }

    #[test]
    fn config_read_back_rejects_what_the_uapi_never_returns() {
        let off = SockLevelHash::default();
        assert_eq!(Config::from_raw(off, Op::ReadConfig).unwrap(), None);
        let bad = |raw| {
            Config::from_raw(raw, Op::ReadConfig)
                .unwrap_err()
                .to_string()
        };
        let base = SockLevelHash {
            queues: 2,
            ..Default::default()
        };
        assert!(bad(SockLevelHash { queues: -1, ..base }).contains("queue count -1"));
        assert!(bad(SockLevelHash { hash: 5, ..base }).contains("unknown hash function 5"));
        assert!(bad(SockLevelHash { input: 3, ..base }).contains("unknown hash input 3"));
    }

    #[test]
    fn names_parse_back_and_cover_every_variant() {
        for n in 0..5 {
            let hash = HashFn::try_from(n).unwrap();
            assert_eq!(parse_hash_fn(hash_fn_name(hash)), Ok(hash));
            assert_eq!(parse_hash_fn(&n.to_string()), Ok(hash));
        }
        for n in 0..3 {
            let input = HashInput::try_from(n).unwrap();
            assert_eq!(parse_hash_input(hash_input_name(input)), Ok(input));
        }
        assert_eq!(parse_hash_fn("CRC16"), Ok(HashFn::Crc16));
        assert!(parse_hash_fn("md5")
            .unwrap_err()
            .contains("toeplitz, src-ip-mod"));
        assert!(parse_hash_fn("5").is_err());
        assert!(parse_hash_input("server").is_err());
    }
}
