// SPDX-License-Identifier: MIT OR Apache-2.0
//! Which descriptors are listen sockets the shim enabled, and which of them this process has
//! already tried to register on. Lock-free: the hooks run in any thread, and the fork child
//! handler must not take locks another thread may have held at fork time.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

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
    /// Listen sockets the shim enabled or adopted (inherited across fork, like the
    /// descriptors).
    enabled: FdSet,
    /// Enabled sockets this process has tried to register on (cleared in a fork child: each
    /// worker registers itself).
    attempted: FdSet,
    /// Enabled sockets this process is registered on (cleared in a fork child).
    registered: FdSet,
    /// Descriptors looked at once for an inherited option (after `exec`).
    probed: FdSet,
    /// Descriptors on which the program sets the options itself: never touched.
    program_managed: FdSet,
    /// Whether `enabled` was ever non-empty: the hooks' fast path for everything else.
    any_enabled: AtomicBool,
    /// The process that called `listen()` on an enabled socket (the master of a pre-fork
    /// server), 0 if none in this image.
    listener_pid: AtomicI32,
    /// This process's pid, cached (0: not yet known; reset in a fork child).
    pid: AtomicI32,
    /// After `ENOSPC`, no registration is tried before this time (ms, monotonic).
    retry_at: AtomicU64,
    /// Whether this process said that the queues ran out.
    told_no_space: AtomicBool,
}

impl Tracker {
    pub const fn new() -> Self {
        Tracker {
            enabled: FdSet::new(),
            attempted: FdSet::new(),
            registered: FdSet::new(),
            probed: FdSet::new(),
            program_managed: FdSet::new(),
            any_enabled: AtomicBool::new(false),
            listener_pid: AtomicI32::new(0),
            pid: AtomicI32::new(0),
            retry_at: AtomicU64::new(0),
            told_no_space: AtomicBool::new(false),
        }
    }

    fn pid(&self) -> i32 {
        let pid = self.pid.load(Ordering::Relaxed);
        if pid != 0 {
            return pid;
        }
        let pid = std::process::id() as i32;
        self.pid.store(pid, Ordering::Relaxed);
        pid
    }

    /// This process called `listen()` on an enabled socket: it is the one that set the server
    /// up, and registers only if it accepts itself (see [`Self::is_listener_process`]).
    pub fn listened(&self) {
        self.listener_pid.store(self.pid(), Ordering::Relaxed);
    }

    /// Whether this process is the one that called `listen()`: a master that polls the
    /// listener to learn of connections (to spawn workers) but never accepts must not own
    /// buckets.
    pub fn is_listener_process(&self) -> bool {
        let listener = self.listener_pid.load(Ordering::Relaxed);
        listener != 0 && listener == self.pid()
    }

    /// True the first time `fd` is looked at for an inherited option.
    pub fn first_probe(&self, fd: i32) -> bool {
        !self.probed.contains(fd) && self.probed.insert(fd)
    }

    /// The program sets the options on `fd` itself: the shim leaves it alone from now on.
    pub fn program_manages(&self, fd: i32) {
        self.program_managed.insert(fd);
        self.forget(fd);
    }

    pub fn is_program_managed(&self, fd: i32) -> bool {
        self.program_managed.contains(fd)
    }

    /// This process registered on `fd`.
    pub fn registered(&self, fd: i32) {
        self.registered.insert(fd);
    }

    pub fn is_registered(&self, fd: i32) -> bool {
        self.registered.contains(fd)
    }

    /// `fd` is closed (or replaced): whatever it was, it is nothing of ours now.
    pub fn closed(&self, fd: i32) {
        self.enabled.remove(fd);
        self.attempted.remove(fd);
        self.registered.remove(fd);
        self.program_managed.remove(fd);
        self.probed.remove(fd);
    }

    /// Registering on `fd` failed with `ENOSPC` at `now_ms`: try again a second later, on
    /// the next call that waits or accepts. Returns true the first time in this process (the
    /// caller says so once).
    pub fn no_space(&self, fd: i32, now_ms: u64) -> bool {
        self.retry_at.store(now_ms + 1000, Ordering::Relaxed);
        self.attempted.remove(fd);
        !self.told_no_space.swap(true, Ordering::Relaxed)
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
        self.registered.remove(fd);
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

    /// Whether registering this process on `fd` is due: an enabled socket this process has
    /// not tried yet (or a retry after `ENOSPC` whose time has come, `now_ms()` tells).
    pub fn registration_due(&self, fd: i32, now_ms: impl FnOnce() -> u64) -> bool {
        // Loads only: a busy poll loop of a registered worker must not bounce the cache line
        // between threads.
        self.any_enabled() && self.enabled.contains(fd) && !self.attempted.contains(fd) && {
            let retry_at = self.retry_at.load(Ordering::Relaxed);
            retry_at == 0 || now_ms() >= retry_at
        }
    }

    /// Whether the caller should register this process on `fd` now: an enabled socket this
    /// process has not tried yet. True once per socket and process, even with racing threads.
    pub fn claim_registration(&self, fd: i32) -> bool {
        self.registration_due(fd, || 0) && self.attempted.insert(fd)
    }

    /// The enabled descriptors below `limit` (for select's `nfds`).
    pub fn enabled_below(&self, limit: i32) -> impl Iterator<Item = i32> + '_ {
        self.enabled.members_below(limit)
    }

    /// The enabled descriptors other than `fd`.
    pub fn enabled_except(&self, fd: i32) -> impl Iterator<Item = i32> + '_ {
        self.enabled
            .members_below(MAX_FDS as i32)
            .filter(move |&other| other != fd)
    }

    /// In a fork child: a new process, registered nowhere yet.
    pub fn forked(&self) {
        self.attempted.clear();
        self.registered.clear();
        self.pid.store(0, Ordering::Relaxed);
        self.retry_at.store(0, Ordering::Relaxed);
        self.told_no_space.store(false, Ordering::Relaxed);
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
    fn only_the_process_that_listened_is_the_listener_process() {
        let tracker = Tracker::new();
        assert!(!tracker.is_listener_process(), "nobody listened yet");
        tracker.listened();
        assert!(tracker.is_listener_process());
        // A fork child (here: the cached pid replaced) is a worker.
        tracker.pid.store(1, Ordering::Relaxed);
        assert!(!tracker.is_listener_process());
    }

    #[test]
    fn no_space_retries_a_second_later_and_is_told_once() {
        let tracker = Tracker::new();
        tracker.enabled(4);
        assert!(tracker.claim_registration(4));
        assert!(tracker.no_space(4, 10_000), "first time: say so");
        assert!(!tracker.registration_due(4, || 10_999));
        assert!(tracker.registration_due(4, || 11_000));
        tracker.attempted.insert(4);
        assert!(!tracker.no_space(4, 20_000), "second time: quiet");
        tracker.forked();
        assert!(tracker.registration_due(4, || 0));
    }

    #[test]
    fn closing_forgets_everything_about_the_number() {
        let tracker = Tracker::new();
        tracker.enabled(8);
        tracker.enabled(9);
        assert!(tracker.claim_registration(8));
        tracker.registered(8);
        assert_eq!(tracker.enabled_except(8).collect::<Vec<_>>(), [9]);
        tracker.closed(8);
        assert!(!tracker.is_enabled(8) && !tracker.is_registered(8));
        assert!(
            tracker.first_probe(8),
            "a new file under the number is looked at again"
        );
        tracker.program_manages(9);
        assert!(!tracker.is_enabled(9) && tracker.is_program_managed(9));
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
