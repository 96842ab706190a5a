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
                "invalid queue count {text:?}: expected 1..={MAX_QUEUES} or \"cpus\""
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
mod tests;
