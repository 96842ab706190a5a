//! The command lines of the bench binaries: `--flag value` pairs, nothing else.

use std::collections::BTreeMap;

/// The `--flag value` pairs of a command line; each is taken once, and what is left over is an
/// unknown option.
pub struct Flags(BTreeMap<String, String>);

impl Flags {
    /// Reads `args` (without the program name) as `--flag value` pairs.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            map.insert(flag, value);
        }
        Ok(Self(map))
    }

    /// The value of `flag`, if given.
    pub fn take(&mut self, flag: &str) -> Option<String> {
        self.0.remove(flag)
    }

    /// An error naming the first option nobody took.
    pub fn finish(self) -> Result<(), String> {
        match self.0.keys().next() {
            Some(flag) => Err(format!("unknown option {flag}")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_missing_values_and_leftovers() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let mut flags = Flags::parse(args("--out x --data y")).unwrap();
        assert_eq!(flags.take("--out").as_deref(), Some("x"));
        assert_eq!(flags.take("--out"), None);
        assert_eq!(flags.finish(), Err("unknown option --data".into()));
        assert_eq!(
            Flags::parse(args("--out")).err(),
            Some("--out needs a value".into())
        );
        assert_eq!(Flags::parse(args("")).unwrap().finish(), Ok(()));
    }
}
