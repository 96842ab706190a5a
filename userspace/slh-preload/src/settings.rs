// SPDX-License-Identifier: MIT OR Apache-2.0
//! The shim's environment variables, parsed once per process image.

use slh::config::{parse_hash_fn, parse_hash_input};
use slh::{Config, HashFn, HashInput, MaxWait, ParseError, Queues};

/// A queue for every worker of servers with up to 256 workers (one per bucket: more could not
/// all get a bucket anyway), unlike one per CPU, which is 2 on a small VM and would leave all
/// but two workers on the normal queue. Queues are small until a process registers.
pub const DEFAULT_QUEUES: Queues = match Queues::count(256) {
    Some(queues) => queues,
    None => panic!("256 is a valid queue count"),
};

/// What the environment asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub config: Config,
    pub ports: PortFilter,
    /// `SLH_DEBUG`: log decisions to stderr.
    pub debug: bool,
}

/// Why the shim stays out of the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inactive {
    /// `SLH_DISABLE` is set.
    Disabled,
    /// A variable could not be parsed; the shim does not guess what was meant (and says so,
    /// whatever `SLH_DEBUG` is).
    Invalid { message: String },
}

/// A boolean switch: set and not "0" (nor empty).
fn flag(value: Option<&str>) -> bool {
    matches!(value.map(str::trim), Some(v) if !v.is_empty() && v != "0")
}

/// Reads the settings through `var` (the environment in the shim, a table in tests).
pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Settings, Inactive> {
    if flag(var("SLH_DISABLE").as_deref()) {
        return Err(Inactive::Disabled);
    }
    let debug = flag(var("SLH_DEBUG").as_deref());
    let invalid = |name: &str, message: String| Inactive::Invalid {
        message: format!("{name}: {message}"),
    };
    let queues = match var("SLH_QUEUES") {
        Some(text) => text
            .parse()
            .map_err(|e: ParseError| invalid("SLH_QUEUES", e.to_string()))?,
        None => DEFAULT_QUEUES,
    };
    let hash = match var("SLH_HASH") {
        Some(text) => parse_hash_fn(&text).map_err(|e| invalid("SLH_HASH", e.to_string()))?,
        None => HashFn::Toeplitz,
    };
    let input = match var("SLH_INPUT") {
        Some(text) => parse_hash_input(&text).map_err(|e| invalid("SLH_INPUT", e.to_string()))?,
        None => HashInput::ClientAddr,
    };
    let ports = match var("SLH_PORTS") {
        Some(text) => PortFilter::parse(&text).map_err(|e| invalid("SLH_PORTS", e))?,
        None => PortFilter::All,
    };
    let max_wait = match var("SLH_MAX_WAIT") {
        Some(text) => {
            let value: MaxWait = text
                .parse()
                .map_err(|e: ParseError| invalid("SLH_MAX_WAIT", e.to_string()))?;
            if value.as_millis() > slh::uapi::MAX_WAIT_MS_MAX {
                return Err(invalid(
                    "SLH_MAX_WAIT",
                    format!("{text:?} is above {} ms", slh::uapi::MAX_WAIT_MS_MAX),
                ));
            }
            value
        }
        None => MaxWait::DEFAULT,
    };
    Ok(Settings {
        config: Config::new(queues, hash)
            .with_input(input)
            .with_max_wait(max_wait),
        ports,
        debug,
    })
}

/// `SLH_PORTS`: which local ports the shim applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortFilter {
    /// Unset (or empty): every TCP listen socket.
    All,
    /// Only these inclusive ranges (a single port is a range of one).
    Only(Vec<(u16, u16)>),
}

impl PortFilter {
    /// A comma-separated list of ports and `FIRST-LAST` ranges, e.g. `80,443,8000-8099`.
    pub fn parse(text: &str) -> Result<PortFilter, String> {
        if text.trim().is_empty() {
            return Ok(PortFilter::All);
        }
        let port = |item: &str| -> Result<u16, String> {
            match item.trim().parse::<u16>() {
                Ok(port) if port != 0 => Ok(port),
                _ => Err(format!("{:?} is not a port (1..=65535)", item.trim())),
            }
        };
        let mut ranges = Vec::new();
        for item in text.split(',') {
            let range = match item.split_once('-') {
                Some((first, last)) => {
                    let (first, last) = (port(first)?, port(last)?);
                    if first > last {
                        return Err(format!("empty range {:?}", item.trim()));
                    }
                    (first, last)
                }
                None => {
                    let single = port(item)?;
                    (single, single)
                }
            };
            ranges.push(range);
        }
        Ok(PortFilter::Only(ranges))
    }

    pub fn allows(&self, port: u16) -> bool {
        match self {
            PortFilter::All => true,
            PortFilter::Only(ranges) => ranges
                .iter()
                .any(|&(first, last)| (first..=last).contains(&port)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_let_256_workers_register_and_keep_clients_persistent() {
        let settings = from_env(env(&[])).unwrap();
        assert_eq!(settings.config.queues, Queues::count(256).unwrap());
        assert_eq!(settings.config.max_wait, MaxWait::DEFAULT);
        assert_eq!(settings.config.hash, HashFn::Toeplitz);
        assert_eq!(settings.config.input, HashInput::ClientAddr);
        assert_eq!(settings.ports, PortFilter::All);
        assert!(!settings.debug);
    }

    #[test]
    fn every_variable_is_read() {
        let settings = from_env(env(&[
            ("SLH_QUEUES", "cpus"),
            ("SLH_HASH", "xor-src"),
            ("SLH_INPUT", "client-server"),
            ("SLH_PORTS", "8080"),
            ("SLH_DEBUG", "1"),
            ("SLH_MAX_WAIT", "0"),
        ]))
        .unwrap();
        assert_eq!(settings.config.max_wait, MaxWait::Strict);
        assert_eq!(
            from_env(env(&[("SLH_MAX_WAIT", "150ms")]))
                .unwrap()
                .config
                .max_wait,
            MaxWait::Millis(150)
        );
        assert_eq!(settings.config.queues, Queues::PerCpu);
        assert_eq!(settings.config.hash, HashFn::XorFoldSrc);
        assert_eq!(settings.config.input, HashInput::ClientServerAddr);
        assert_eq!(settings.ports, PortFilter::Only(vec![(8080, 8080)]));
        assert!(settings.debug);
        assert_eq!(
            from_env(env(&[("SLH_QUEUES", "1024")]))
                .unwrap()
                .config
                .queues,
            Queues::count(1024).unwrap()
        );
        assert!(!from_env(env(&[("SLH_DEBUG", "0")])).unwrap().debug);
        assert!(!from_env(env(&[("SLH_DEBUG", "")])).unwrap().debug);
    }

    #[test]
    fn disable_wins_over_everything_even_invalid_values() {
        assert_eq!(
            from_env(env(&[
                ("SLH_DISABLE", "1"),
                ("SLH_QUEUES", "zero"),
                ("SLH_DEBUG", "1")
            ])),
            Err(Inactive::Disabled)
        );
        assert!(from_env(env(&[("SLH_DISABLE", "0")])).is_ok());
    }

    #[test]
    fn invalid_values_make_the_shim_inactive_and_say_which_variable() {
        for (name, value) in [
            ("SLH_QUEUES", "0"),
            ("SLH_QUEUES", "1025"),
            ("SLH_QUEUES", "many"),
            ("SLH_HASH", "md5"),
            ("SLH_INPUT", "5"),
            ("SLH_PORTS", "http"),
            ("SLH_MAX_WAIT", "soon"),
            ("SLH_MAX_WAIT", "60001"),
        ] {
            match from_env(env(&[(name, value)])) {
                Err(Inactive::Invalid { message }) => {
                    assert!(message.starts_with(&format!("{name}: ")), "{message}");
                }
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn port_lists_and_ranges() {
        let filter = PortFilter::parse(" 80, 443 ,8000-8099").unwrap();
        assert_eq!(
            filter,
            PortFilter::Only(vec![(80, 80), (443, 443), (8000, 8099)])
        );
        for (port, allowed) in [
            (80, true),
            (81, false),
            (443, true),
            (7999, false),
            (8000, true),
            (8050, true),
            (8099, true),
            (8100, false),
        ] {
            assert_eq!(filter.allows(port), allowed, "{port}");
        }
        assert!(PortFilter::parse("").unwrap().allows(1));
        assert!(PortFilter::parse("  ").unwrap().allows(65535));
        assert!(PortFilter::parse("65535").unwrap().allows(65535));
    }

    #[test]
    fn bad_port_lists_are_refused() {
        for bad in [
            "0", "65536", "80,", "a", "90-80", "80-", "-80", "1-2-3", "80;443",
        ] {
            assert!(PortFilter::parse(bad).is_err(), "{bad:?}");
        }
    }
}
