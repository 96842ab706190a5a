// SPDX-License-Identifier: GPL-2.0
//! Which descriptors are listen sockets the shim enabled, and which of them this process has
//! already tried to register on. Lock-free: the hooks run in any thread, and the fork child
//! handler must not take locks another thread may have held at fork time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Descriptors tracked: beyond this, a listen socket is left alone (never wrongly handled).
pub const MAX_FDS: usize = 65536;
const WORDS: usize = MAX_FDS / 64;

/// A set of descriptor numbers below [`MAX_FDS`].
pub struct FdSet {
    words: [AtomicU64; WORDS],
}

impl FdSet {
    pub const fn new() -> Self {
        FdSet {
            words: [const { AtomicU64::new(0) }; WORDS],
        }
    }

    fn position(fd: i32) -> Option<(usize, u64)> {
        let fd = usize::try_from(fd).ok().filter(|&fd| fd < MAX_FDS)?;
        Some((fd / 64, 1u64 << (fd % 64)))
    }

    pub fn contains(&self, fd: i32) -> bool {
        Self::position(fd)
            .is_some_and(|(word, bit)| self.words[word].load(Ordering::Acquire) & bit != 0)
    }

    /// Adds `fd`; true if it was absent (so exactly one of racing callers gets true).
    pub fn insert(&self, fd: i32) -> bool {
        Self::position(fd)
            .is_some_and(|(word, bit)| self.words[word].fetch_or(bit, Ordering::AcqRel) & bit == 0)
    }

    pub fn remove(&self, fd: i32) {
        if let Some((word, bit)) = Self::position(fd) {
            self.words[word].fetch_and(!bit, Ordering::AcqRel);
        }
    }

    pub fn clear(&self) {
        for word in &self.words {
            word.store(0, Ordering::Release);
        }
    }

    /// The members below `limit`, e.g. a select(2) `nfds`.
    pub fn members_below(&self, limit: i32) -> impl Iterator<Item = i32> + '_ {
        let limit = usize::try_from(limit).unwrap_or(0).min(MAX_FDS);
        self.words[..limit.div_ceil(64)]
            .iter()
            .enumerate()
            .flat_map(|(index, word)| {
                let bits = word.load(Ordering::Acquire);
                (0..64)
                    .filter(move |bit| bits & (1 << bit) != 0)
                    .map(move |bit| (index * 64 + bit) as i32)
            })
            .filter(move |&fd| (fd as usize) < limit)
    }
}

/// The shim's per-process-image state.
pub struct Tracker {
    /// Listen sockets the shim enabled (inherited across fork, like the descriptors).
    enabled: FdSet,
    /// Enabled sockets this process has tried to register on (cleared in a fork child: each
    /// worker registers itself).
    attempted: FdSet,
    /// Whether `enabled` was ever non-empty: the hooks' fast path for everything else.
    any_enabled: AtomicBool,
}

impl Tracker {
    pub const fn new() -> Self {
        Tracker {
            enabled: FdSet::new(),
            attempted: FdSet::new(),
            any_enabled: AtomicBool::new(false),
        }
    }

    /// `fd` now is a listen socket with the option on. If the number was in use before, it is
    /// a new socket: this process has not registered on it.
    pub fn enabled(&self, fd: i32) -> bool {
        if Self::too_large(fd) {
            return false;
        }
        self.attempted.remove(fd);
        self.enabled.insert(fd);
        self.any_enabled.store(true, Ordering::Release);
        true
    }

    /// `fd` was looked at and is not (or no longer) one of ours.
    pub fn forget(&self, fd: i32) {
        self.enabled.remove(fd);
    }

    fn too_large(fd: i32) -> bool {
        usize::try_from(fd).map_or(true, |fd| fd >= MAX_FDS)
    }

    pub fn any_enabled(&self) -> bool {
        self.any_enabled.load(Ordering::Acquire)
    }

    pub fn is_enabled(&self, fd: i32) -> bool {
        self.enabled.contains(fd)
    }

    /// Whether the caller should register this process on `fd` now: an enabled socket this
    /// process has not tried yet. True once per socket and process, even with racing threads.
    pub fn claim_registration(&self, fd: i32) -> bool {
        // Loads before the read-modify-write: a busy poll loop of a registered worker must not
        // bounce the cache line between threads.
        self.any_enabled()
            && self.enabled.contains(fd)
            && !self.attempted.contains(fd)
            && self.attempted.insert(fd)
    }

    /// The enabled descriptors below `limit` (for select's `nfds`).
    pub fn enabled_below(&self, limit: i32) -> impl Iterator<Item = i32> + '_ {
        self.enabled.members_below(limit)
    }

    /// In a fork child: a new process, registered nowhere yet.
    pub fn forked(&self) {
        self.attempted.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_set_basics_and_bounds() {
        let set = FdSet::new();
        assert!(set.insert(0));
        assert!(!set.insert(0));
        assert!(set.insert(63));
        assert!(set.insert(64));
        assert!(set.insert(MAX_FDS as i32 - 1));
        // Out of range: never members, never inserted.
        assert!(!set.insert(-1));
        assert!(!set.insert(MAX_FDS as i32));
        assert!(!set.contains(-1) && !set.contains(MAX_FDS as i32));
        assert!(set.contains(63) && set.contains(64) && !set.contains(65));
        assert_eq!(
            set.members_below(i32::MAX).collect::<Vec<_>>(),
            [0, 63, 64, MAX_FDS as i32 - 1]
        );
        assert_eq!(set.members_below(64).collect::<Vec<_>>(), [0, 63]);
        assert_eq!(set.members_below(65).collect::<Vec<_>>(), [0, 63, 64]);
        assert_eq!(set.members_below(0).count(), 0);
        assert_eq!(set.members_below(-5).count(), 0);
        set.remove(63);
        assert!(!set.contains(63));
        set.clear();
        assert_eq!(set.members_below(i32::MAX).count(), 0);
    }

    #[test]
    fn registration_is_claimed_once_per_socket_and_process() {
        let tracker = Tracker::new();
        assert!(!tracker.any_enabled());
        assert!(!tracker.claim_registration(5), "not enabled");
        assert!(tracker.enabled(5));
        assert!(tracker.enabled(7));
        assert!(tracker.any_enabled());
        assert!(tracker.claim_registration(5));
        assert!(
            !tracker.claim_registration(5),
            "second try in the same process"
        );
        assert!(tracker.claim_registration(7), "each socket separately");
        assert!(!tracker.claim_registration(6));
        // A fork child is a new process: it registers again, on every socket.
        tracker.forked();
        assert!(tracker.claim_registration(5));
        assert!(tracker.claim_registration(7));
        assert!(!tracker.claim_registration(5));
        // The number reused for a new listen socket: registering on it is due again.
        assert!(tracker.enabled(5));
        assert!(tracker.claim_registration(5));
        tracker.forget(7);
        tracker.forked();
        assert!(!tracker.claim_registration(7));
        assert!(!tracker.enabled(MAX_FDS as i32));
    }

    #[test]
    fn racing_threads_claim_once() {
        let tracker = std::sync::Arc::new(Tracker::new());
        tracker.enabled(3);
        let claims: usize = (0..8)
            .map(|_| {
                let tracker = tracker.clone();
                std::thread::spawn(move || usize::from(tracker.claim_registration(3)))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(claims, 1);
    }
}
