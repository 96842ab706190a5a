// SPDX-License-Identifier: MIT OR Apache-2.0
//! What `SO_SOCKLEVELHASH` is set to: queue count, hash function, hash input, bounded wait;
//! and the names the tools use for them on command lines and in environment variables.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Op};
use crate::uapi::{
    SockLevelHash, MAX_QUEUES, MAX_WAIT_MS_DEFAULT, MAX_WAIT_MS_MAX, QUEUES_PER_CPU,
};
use crate::{HashFn, HashInput};

/// A validated explicit queue count, `1..=1024` (what `setsockopt` accepts besides "one per
/// CPU"): a [`Queues`] cannot hold 0, which the kernel reads as "off".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueCount(u16);

impl QueueCount {
    /// One queue.
    pub const MIN: QueueCount = QueueCount(1);
    /// The largest explicit count, 1024.
    pub const MAX: QueueCount = QueueCount(MAX_QUEUES as u16);

    /// `n` queues, `None` outside `1..=1024`.
    pub const fn new(n: u32) -> Option<QueueCount> {
        if n >= 1 && n <= MAX_QUEUES {
            Some(QueueCount(n as u16))
        } else {
            None
        }
    }

    /// The count.
    pub const fn get(self) -> u32 {
        self.0 as u32
    }
}

impl TryFrom<u32> for QueueCount {
    type Error = ParseError;

    fn try_from(n: u32) -> Result<QueueCount, ParseError> {
        QueueCount::new(n).ok_or_else(|| ParseError::new(ParseErrorKind::QueueCount, n.to_string()))
    }
}

impl From<QueueCount> for u32 {
    fn from(count: QueueCount) -> u32 {
        count.get()
    }
}

impl fmt::Display for QueueCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How many priority queues a listen socket gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Queues {
    /// One per possible CPU (`nr_cpu_ids`), as in the paper. Few on small machines: a server
    /// with more workers than CPUs wants [`Queues::Count`].
    PerCpu,
    /// Exactly this many.
    Count(QueueCount),
}

impl Queues {
    /// `n` queues, `None` outside `1..=1024` (`Queues::count(16)`).
    pub const fn count(n: u32) -> Option<Queues> {
        match QueueCount::new(n) {
            Some(count) => Some(Queues::Count(count)),
            None => None,
        }
    }

    /// The `SO_SOCKLEVELHASH` int / `queues` field value.
    pub const fn to_raw(self) -> i32 {
        match self {
            Queues::PerCpu => QUEUES_PER_CPU,
            Queues::Count(n) => n.get() as i32,
        }
    }
}

impl FromStr for Queues {
    type Err = ParseError;

    /// `cpus` (or `-1`) for one per CPU, otherwise a count in `1..=1024`.
    fn from_str(text: &str) -> Result<Self, ParseError> {
        let text = text.trim();
        if text == "cpus" || text == "-1" {
            return Ok(Queues::PerCpu);
        }
        text.parse::<u32>()
            .ok()
            .and_then(Queues::count)
            .ok_or_else(|| ParseError::new(ParseErrorKind::QueueCount, text))
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

/// What [`ParseError`] failed to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A queue count ([`Queues`], [`QueueCount`]).
    QueueCount,
    /// A [`MaxWait`].
    MaxWait,
    /// A hash function name or number ([`parse_hash_fn`]).
    HashFn,
    /// A hash input name or number ([`parse_hash_input`]).
    HashInput,
}

/// Text (or a number) that names no value of the uapi; says what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    kind: ParseErrorKind,
    input: String,
}

impl ParseError {
    fn new(kind: ParseErrorKind, input: impl Into<String>) -> Self {
        ParseError {
            kind,
            input: input.into(),
        }
    }

    /// What was being parsed.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The refused text (trimmed).
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = &self.input;
        match self.kind {
            ParseErrorKind::QueueCount => write!(
                f,
                "invalid queue count {text:?}: expected 1..=1024 or \"cpus\""
            ),
            ParseErrorKind::MaxWait => write!(
                f,
                "invalid max wait {text:?}: expected milliseconds 0..=60000 (0: strict) or \"strict\""
            ),
            ParseErrorKind::HashFn => write!(
                f,
                "unknown hash {text:?}: expected one of {}",
                names(HASH_FN_NAMES.iter().map(|(_, n)| *n))
            ),
            ParseErrorKind::HashInput => write!(
                f,
                "unknown hash input {text:?}: expected one of {}",
                names(HASH_INPUT_NAMES.iter().map(|(_, n)| *n))
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// How long a connection parked in a priority queue waits for its owner (`max_wait_ms`).
///
/// With a bounded wait, a connection its owner has not accepted after the wait moves to the
/// normal accept queue, where any process may take it; a queue never holds more than its share
/// of the backlog, `ceil(backlog / registered)`, the excess goes to the normal queue too; and
/// an owner that lets two connections in a row reach the wait goes on standby (still
/// registered, but its buckets go to the others) until its first `accept()` after a hold of
/// twice the wait, doubled each time it falls behind again soon after coming back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaxWait {
    /// `max_wait_ms` 0: nothing ever spills (no wait limit, no share limit, no standby); a
    /// connection waits as long as its owner lives.
    Strict,
    /// This many milliseconds, `1..=60000`.
    Millis(u32),
}

impl MaxWait {
    /// The kernel's default, 200 ms (what the `int` form and the 16-byte struct get).
    pub const DEFAULT: MaxWait = MaxWait::Millis(MAX_WAIT_MS_DEFAULT);

    /// The uapi's reading of a millisecond count: 0 is [`MaxWait::Strict`]. Not range-checked
    /// ([`MaxWait::to_raw`] is).
    pub const fn from_millis(ms: u32) -> Self {
        match ms {
            0 => MaxWait::Strict,
            ms => MaxWait::Millis(ms),
        }
    }

    /// The `max_wait_ms` value, 0 for [`MaxWait::Strict`] (not range-checked).
    pub const fn as_millis(self) -> u32 {
        match self {
            MaxWait::Strict => 0,
            MaxWait::Millis(ms) => ms,
        }
    }

    /// The wait as a duration, `None` in the strict mode (no wait limit).
    pub const fn as_duration(self) -> Option<Duration> {
        match self {
            MaxWait::Strict => None,
            MaxWait::Millis(ms) => Some(Duration::from_millis(ms as u64)),
        }
    }

    /// Whether this is the strict mode.
    pub const fn is_strict(self) -> bool {
        matches!(self, MaxWait::Strict)
    }

    /// The `max_wait_ms` field value; refuses what the kernel would (above 60000 ms), and
    /// `Millis(0)`, which is [`MaxWait::Strict`] by its name.
    pub fn to_raw(self, op: Op) -> Result<u32, Error> {
        match self {
            MaxWait::Strict => Ok(0),
            MaxWait::Millis(ms @ 1..=MAX_WAIT_MS_MAX) => Ok(ms),
            MaxWait::Millis(ms) => Err(Error::OutOfRange {
                op,
                what: "max wait (ms)",
                value: i64::from(ms),
                allowed: "1..=60000 ms, or strict",
            }),
        }
    }
}

impl Default for MaxWait {
    fn default() -> Self {
        MaxWait::DEFAULT
    }
}

impl FromStr for MaxWait {
    type Err = ParseError;

    /// Milliseconds, `0..=60000`, optionally followed by `ms` (`150`, `150ms`, `150 ms`); `0`
    /// or `strict` for the strict mode.
    fn from_str(text: &str) -> Result<Self, ParseError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("strict") {
            return Ok(MaxWait::Strict);
        }
        let digits = text
            .strip_suffix("ms")
            .or_else(|| text.strip_suffix("MS"))
            .unwrap_or(text)
            .trim_end();
        match digits.parse::<u32>() {
            Ok(ms @ 0..=MAX_WAIT_MS_MAX) if !digits.starts_with('+') => {
                Ok(MaxWait::from_millis(ms))
            }
            _ => Err(ParseError::new(ParseErrorKind::MaxWait, text)),
        }
    }
}

impl fmt::Display for MaxWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxWait::Strict => f.write_str("0 ms (strict)"),
            MaxWait::Millis(ms) => write!(f, "{ms} ms"),
        }
    }
}

/// A full configuration (the extended `struct sock_level_hash`): [`Config::new`], then
/// [`Config::with_input`] and [`Config::with_max_wait`] for the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    pub queues: Queues,
    pub hash: HashFn,
    pub input: HashInput,
    /// The bounded wait (and with it the bounded share and standby), or the strict mode.
    pub max_wait: MaxWait,
}

impl Config {
    /// `queues` queues with `hash` over the client address (the persistent default input) and
    /// the kernel's default wait, 200 ms.
    pub fn new(queues: Queues, hash: HashFn) -> Self {
        Config {
            queues,
            hash,
            input: HashInput::ClientAddr,
            max_wait: MaxWait::DEFAULT,
        }
    }

    /// The same configuration with another wait ([`MaxWait::Strict`]: nothing spills).
    pub fn with_max_wait(self, max_wait: MaxWait) -> Self {
        Config { max_wait, ..self }
    }

    /// The same configuration with another hash input ([`HashInput::FourTuple`] spreads the
    /// connections of clients behind one address, at the price of persistence).
    pub fn with_input(self, input: HashInput) -> Self {
        Config { input, ..self }
    }

    /// The same configuration with another hash function.
    pub fn with_hash(self, hash: HashFn) -> Self {
        Config { hash, ..self }
    }

    /// The same configuration with another queue count.
    pub fn with_queues(self, queues: Queues) -> Self {
        Config { queues, ..self }
    }

    /// The value to pass to `setsockopt` (the whole 20-byte struct).
    pub fn to_raw(self, op: Op) -> Result<SockLevelHash, Error> {
        Ok(SockLevelHash {
            queues: self.queues.to_raw(),
            hash: self.hash as u32,
            input: self.input as u32,
            flags: 0,
            max_wait_ms: self.max_wait.to_raw(op)?,
        })
    }

    /// Reads back what `getsockopt` returned: `None` when the option is off. The kernel reports
    /// the resolved queue count: one per CPU reads back as that count, or as
    /// [`Queues::PerCpu`] on a machine with more than 1024 possible CPUs (no explicit count
    /// can exceed 1024). (A kernel that wrote only the 16-byte struct leaves `max_wait_ms` 0:
    /// it had no bounded wait, which is the strict mode.)
    pub fn from_raw(raw: SockLevelHash, op: Op) -> Result<Option<Self>, Error> {
        let malformed = |detail: String| Error::Malformed { op, detail };
        let queues = match raw.queues {
            0 => return Ok(None),
            n if n > 0 => Queues::count(n as u32).unwrap_or(Queues::PerCpu),
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
        let max_wait = max_wait_from_raw(raw.max_wait_ms)
            .ok_or_else(|| malformed(format!("max wait {} ms", raw.max_wait_ms)))?;
        Ok(Some(Config {
            queues,
            hash,
            input,
            max_wait,
        }))
    }
}

/// A `max_wait_ms` the kernel wrote, `None` above what it accepts.
pub(crate) fn max_wait_from_raw(ms: u32) -> Option<MaxWait> {
    (ms <= MAX_WAIT_MS_MAX).then_some(MaxWait::from_millis(ms))
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.queues {
            Queues::PerCpu => f.write_str("one queue per CPU")?,
            Queues::Count(n) => write!(f, "{n} queues")?,
        }
        write!(
            f,
            ", hash {}, input {}, max wait {}",
            hash_fn_name(self.hash),
            hash_input_name(self.input),
            self.max_wait
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
pub fn parse_hash_fn(text: &str) -> Result<HashFn, ParseError> {
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
        .ok_or_else(|| ParseError::new(ParseErrorKind::HashFn, text))
}

/// Parses [`hash_input_name`]'s names (case-insensitive) or the uapi number.
pub fn parse_hash_input(text: &str) -> Result<HashInput, ParseError> {
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
        .ok_or_else(|| ParseError::new(ParseErrorKind::HashInput, text))
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(n: u32) -> Queues {
        Queues::count(n).unwrap()
    }

    #[test]
    fn queue_counts_map_to_the_uapi_int() {
        assert_eq!(Queues::PerCpu.to_raw(), -1);
        assert_eq!(queues(1).to_raw(), 1);
        assert_eq!(queues(1024).to_raw(), 1024);
        assert_eq!(Queues::Count(QueueCount::MAX).to_raw(), 1024);
        assert_eq!(Queues::Count(QueueCount::MIN).to_raw(), 1);
        // 0 would mean "off" to the kernel: no QueueCount holds it, nor anything above 1024.
        for bad in [0, 1025, u32::MAX] {
            assert_eq!(QueueCount::new(bad), None, "{bad}");
            assert_eq!(Queues::count(bad), None, "{bad}");
            let error = QueueCount::try_from(bad).unwrap_err();
            assert_eq!(error.kind(), ParseErrorKind::QueueCount);
            assert_eq!(error.input(), bad.to_string());
            assert!(error.to_string().contains("expected 1..=1024"), "{error}");
        }
        assert_eq!(QueueCount::try_from(16).map(u32::from), Ok(16));
        assert_eq!(QueueCount::new(7).unwrap().to_string(), "7");
    }

    #[test]
    fn queue_counts_parse() {
        assert_eq!("64".parse::<Queues>(), Ok(queues(64)));
        assert_eq!(" cpus ".parse::<Queues>(), Ok(Queues::PerCpu));
        assert_eq!("-1".parse::<Queues>(), Ok(Queues::PerCpu));
        for bad in ["0", "1025", "-2", "x", ""] {
            let error = bad.parse::<Queues>().unwrap_err();
            assert_eq!(error.kind(), ParseErrorKind::QueueCount, "{bad:?}");
            assert_eq!(error.input(), bad);
            assert_eq!(
                error.to_string(),
                format!("invalid queue count {bad:?}: expected 1..=1024 or \"cpus\"")
            );
        }
        // A std error, so that `?` in a function returning Box<dyn Error> takes it.
        let _: Box<dyn std::error::Error + Send + Sync> = "0".parse::<Queues>().unwrap_err().into();
    }

    #[test]
    fn max_wait_maps_to_the_uapi_field() {
        assert_eq!(MaxWait::default(), MaxWait::Millis(200));
        assert_eq!(MaxWait::Strict.to_raw(Op::Enable).unwrap(), 0);
        assert_eq!(MaxWait::Millis(1).to_raw(Op::Enable).unwrap(), 1);
        assert_eq!(MaxWait::Millis(60_000).to_raw(Op::Enable).unwrap(), 60_000);
        // Above the kernel's limit; and Millis(0), which is Strict by its name.
        for bad in [0, 60_001, u32::MAX] {
            let error = MaxWait::Millis(bad).to_raw(Op::Enable).unwrap_err();
            assert!(matches!(error, Error::OutOfRange { .. }), "{bad}");
            assert_eq!(error.errno(), Some(libc::EINVAL));
            assert!(error.to_string().contains(&format!("max wait (ms) {bad}")));
        }
        assert_eq!(MaxWait::from_millis(0), MaxWait::Strict);
        assert_eq!(MaxWait::from_millis(150), MaxWait::Millis(150));
        assert_eq!(MaxWait::Millis(150).as_millis(), 150);
        assert_eq!(MaxWait::Strict.as_millis(), 0);
        assert_eq!(
            MaxWait::Millis(150).as_duration(),
            Some(Duration::from_millis(150))
        );
        assert_eq!(MaxWait::Strict.as_duration(), None);
        assert!(MaxWait::Strict.is_strict() && !MaxWait::DEFAULT.is_strict());
        assert_eq!(MaxWait::Millis(150).to_string(), "150 ms");
        assert_eq!(MaxWait::Strict.to_string(), "0 ms (strict)");
    }

    #[test]
    fn max_waits_parse() {
        for (text, expected) in [
            ("0", MaxWait::Strict),
            ("strict", MaxWait::Strict),
            (" Strict ", MaxWait::Strict),
            ("0ms", MaxWait::Strict),
            ("150", MaxWait::Millis(150)),
            ("150ms", MaxWait::Millis(150)),
            ("150 ms", MaxWait::Millis(150)),
            ("60000", MaxWait::Millis(60_000)),
        ] {
            assert_eq!(text.parse::<MaxWait>(), Ok(expected), "{text:?}");
        }
        // What Display writes for a bounded wait parses back.
        assert_eq!(
            MaxWait::Millis(7).to_string().parse::<MaxWait>(),
            Ok(MaxWait::Millis(7))
        );
        for bad in ["60001", "-1", "+5", "1s", "ms", "", "x", "1.5"] {
            let error = bad.parse::<MaxWait>().unwrap_err();
            assert_eq!(error.kind(), ParseErrorKind::MaxWait);
            assert!(error.to_string().contains("0..=60000"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn config_round_trips_through_the_struct() {
        let config = Config::new(queues(8), HashFn::Crc16)
            .with_input(HashInput::FourTuple)
            .with_max_wait(MaxWait::Millis(150));
        assert_eq!(
            (config.queues, config.hash, config.input, config.max_wait),
            (
                queues(8),
                HashFn::Crc16,
                HashInput::FourTuple,
                MaxWait::Millis(150)
            )
        );
        assert_eq!(
            Config::new(Queues::PerCpu, HashFn::Toeplitz)
                .with_queues(queues(8))
                .with_hash(HashFn::Crc16)
                .with_input(HashInput::FourTuple)
                .with_max_wait(MaxWait::Millis(150)),
            config
        );
        let raw = config.to_raw(Op::Enable).unwrap();
        assert_eq!(
            raw,
            SockLevelHash {
                queues: 8,
                hash: 4,
                input: 2,
                flags: 0,
                max_wait_ms: 150
            }
        );
        assert_eq!(Config::from_raw(raw, Op::ReadConfig).unwrap(), Some(config));
        assert_eq!(
            config.to_string(),
            "8 queues, hash crc16, input four-tuple, max wait 150 ms"
        );
        let per_cpu = Config::new(Queues::PerCpu, HashFn::Toeplitz);
        assert_eq!(
            per_cpu.to_string(),
            "one queue per CPU, hash toeplitz, input client, max wait 200 ms"
        );
        assert_eq!(per_cpu.to_raw(Op::Enable).unwrap().queues, -1);
        assert_eq!(per_cpu.input, HashInput::ClientAddr);
        assert_eq!(per_cpu.max_wait, MaxWait::Millis(200));
        assert_eq!(per_cpu.to_raw(Op::Enable).unwrap().max_wait_ms, 200);

        let strict = config.with_max_wait(MaxWait::Strict);
        assert_eq!(strict.to_raw(Op::Enable).unwrap().max_wait_ms, 0);
        assert_eq!(
            Config::from_raw(strict.to_raw(Op::Enable).unwrap(), Op::ReadConfig).unwrap(),
            Some(strict)
        );
        assert!(strict.to_string().ends_with(", max wait 0 ms (strict)"));
        // A wait the kernel would refuse is refused before the call.
        let error = config
            .with_max_wait(MaxWait::Millis(60_001))
            .to_raw(Op::Enable)
            .unwrap_err();
        assert!(matches!(
            error,
            Error::OutOfRange {
                op: Op::Enable,
                value: 60_001,
                ..
            }
        ));
    }

    #[test]
    fn the_kernel_reads_the_struct_as_the_library_meant_it() {
        use sock_level_hash_core::options::{self, parse_config};
        for max_wait in [
            MaxWait::Strict,
            MaxWait::Millis(1),
            MaxWait::DEFAULT,
            MaxWait::Millis(60_000),
        ] {
            let config = Config::new(queues(8), HashFn::XorFoldSrc).with_max_wait(max_wait);
            let raw = config.to_raw(Op::Enable).unwrap();
            let parsed = parse_config(crate::sys::Pod::as_bytes(&raw), 4).unwrap();
            assert_eq!(
                parsed,
                options::Config {
                    queues: 8,
                    hash: HashFn::XorFoldSrc,
                    input: HashInput::ClientAddr,
                    max_wait_ms: max_wait.as_millis(),
                }
            );
        }
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
        assert!(bad(SockLevelHash {
            max_wait_ms: 60_001,
            ..base
        })
        .contains("max wait 60001 ms"));
        // What a kernel without the bounded wait leaves in the field: strict, as it was.
        assert_eq!(
            Config::from_raw(base, Op::ReadConfig)
                .unwrap()
                .unwrap()
                .max_wait,
            MaxWait::Strict
        );
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
        let error = parse_hash_fn("md5").unwrap_err();
        assert_eq!(error.kind(), ParseErrorKind::HashFn);
        assert!(
            error.to_string().contains("toeplitz, src-ip-mod"),
            "{error}"
        );
        assert!(parse_hash_fn("5").is_err());
        let error = parse_hash_input(" server ").unwrap_err();
        assert_eq!(
            (error.kind(), error.input()),
            (ParseErrorKind::HashInput, "server")
        );
        assert!(
            error
                .to_string()
                .contains("client, client-server, four-tuple"),
            "{error}"
        );
    }
}
