// SPDX-License-Identifier: GPL-2.0
//! Locality-based least-connection rules, exactly as the kernel's `ip_vs_lblc.c` applies them.
//!
//! Pure code: meant to be compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core` where it is property-tested against a reference model. The table itself
//! (buckets of entries `target address -> server, lastuse`) belongs to the kernel module; this
//! file holds what C decides about it:
//!
//! * where an entry lives: [`hashkey_v4`], [`hashkey_v6`] (`ip_vs_lblc_hashkey()`);
//! * which server a connection gets: [`schedule`] (`ip_vs_lblc_schedule()`), built from
//!   [`cached_is_usable`], [`is_overloaded`] and [`least_conn`] (`__ip_vs_lblc_schedule()`);
//! * whether a new entry may be created: [`may_create`] (`ip_vs_lblc_new()`);
//! * which entries the periodic timer removes: [`Gc`] and [`Sweep`]
//!   (`ip_vs_lblc_check_expire()`, `ip_vs_lblc_full_check()`) with [`is_stale`].
//!
//! `ip_vs_lblcr.c` shares most of these rules; `lblcr.rs` uses this file.
#![forbid(unsafe_code)]

// lblc's least-connection fallback is wlc's decision: a kernel module that includes this file
// includes `wlc.rs` as the sibling module `wlc` too.
use super::wlc;

pub use super::jiffies::{jiffies_add, time_after, time_before, Jiffies};

/// `IP_VS_LBLC_TAB_BITS`: `CONFIG_IP_VS_LBLC_TAB_BITS` has no Kconfig entry in Linux 6.12, so
/// C's default of 10 always applies.
pub const TAB_BITS: u32 = 10;
/// `IP_VS_LBLC_TAB_SIZE`: number of hash buckets.
pub const TAB_SIZE: usize = 1 << TAB_BITS;
/// `IP_VS_LBLC_TAB_MASK`.
pub const TAB_MASK: usize = TAB_SIZE - 1;
/// `tbl->max_size = IP_VS_LBLC_TAB_SIZE*16`: above this many entries the timer collects
/// entries idle for [`entry_timeout`].
pub const MAX_SIZE: i32 = max_size(TAB_BITS);
/// `tbl->max_size * 3 / 2`: with this many entries no new entry is created ([`may_create`]).
pub const CREATE_LIMIT: i32 = create_limit(TAB_BITS);
/// `COUNT_FOR_FULL_EXPIRATION`: every 30th timer run while the table is not over
/// [`MAX_SIZE`] does a full expiration check instead.
pub const COUNT_FOR_FULL_EXPIRATION: i32 = 30;

/// `CHECK_EXPIRE_INTERVAL` (`60*HZ`): the period of the garbage-collection timer, in jiffies.
pub const fn check_expire_interval(hz: i32) -> i32 {
    hz.wrapping_mul(60)
}

/// `ENTRY_TIMEOUT` (`6*60*HZ`): when the table is over [`MAX_SIZE`], entries idle this long are
/// collected.
pub const fn entry_timeout(hz: i32) -> i32 {
    hz.wrapping_mul(6 * 60)
}

/// `DEFAULT_EXPIRATION` (`24*60*60*HZ`): the default of the sysctl
/// `net.ipv4.vs.lblc_expiration` (jiffies; shown in seconds by `proc_dointvec_jiffies`).
pub const fn default_expiration(hz: i32) -> i32 {
    hz.wrapping_mul(24 * 60 * 60)
}

/// `tbl->max_size` for a table of `1 << tab_bits` buckets.
pub(crate) const fn max_size(tab_bits: u32) -> i32 {
    (1i32 << tab_bits).wrapping_mul(16)
}

/// `tbl->max_size * 3 / 2` for a table of `1 << tab_bits` buckets.
pub(crate) const fn create_limit(tab_bits: u32) -> i32 {
    max_size(tab_bits).wrapping_mul(3) / 2
}

/// `hash_32()` of `<linux/hash.h>` and its constant: the hashing schedulers' own.
pub use super::hash::{hash_32, GOLDEN_RATIO_32};

/// The 32-bit value C hashes for an IPv6 address: the XOR of its four 32-bit words
/// (`addr->ip6[0]^addr->ip6[1]^addr->ip6[2]^addr->ip6[3]`, then `ntohl()`). `a` is in
/// network byte order.
pub const fn fold_v6(a: [u8; 16]) -> u32 {
    super::hash::fold(true, super::hash::Addr::V6(a))
}

/// `ip_vs_lblc_hashkey()` for an IPv4 target (`addr` in network byte order): the bucket,
/// `hash_32(ntohl(addr), IP_VS_LBLC_TAB_BITS)`, in `0..TAB_SIZE`.
pub const fn hashkey_v4(addr: [u8; 4]) -> u32 {
    hash_32(u32::from_be_bytes(addr), TAB_BITS)
}

/// `ip_vs_lblc_hashkey()` for an IPv6 target (`addr` in network byte order): the bucket,
/// `hash_32(`[`fold_v6`]`(addr), IP_VS_LBLC_TAB_BITS)`, in `0..TAB_SIZE`.
pub const fn hashkey_v6(addr: [u8; 16]) -> u32 {
    hash_32(fold_v6(addr), TAB_BITS)
}

/// Whether the garbage collector removes an entry last used at `lastuse` when it allows
/// `timeout` jiffies of idleness: C keeps the entry while
/// `time_before(now, en->lastuse + timeout)`, so it goes once `now - lastuse >= timeout`
/// (`>=`, with wrap-around). `timeout` is the sysctl `lblc_expiration` in the full check and
/// [`entry_timeout`] when the table is over [`MAX_SIZE`] (see [`Sweep::timeout`]).
///
/// `ip_vs_lblcr.c`'s full check writes it as `!time_after(en->lastuse + expiration, now)`,
/// which is the same test.
pub const fn is_stale(now: Jiffies, lastuse: Jiffies, timeout: i32) -> bool {
    !time_before(now, jiffies_add(lastuse, timeout))
}

/// `ip_vs_lblc_new()` drops an existing entry for the target that points to another server,
/// then creates the new entry only if the table holds fewer than [`CREATE_LIMIT`] entries
/// (`if (atomic_read(&tbl->entries) >= tbl->max_size * 3 / 2) return NULL;`). `entries` is
/// the count after that drop. When the existing entry already points to the chosen server,
/// C keeps it and changes nothing.
pub const fn may_create(entries: i32) -> bool {
    entries < CREATE_LIMIT
}

/// Where an entry of a locality-based scheduler's table lives and whether one may be added:
/// the module's table is generic over it, with lblc's rules ([`Lblc`]) or lblcr's
/// (`lblcr::Lblcr`), each forwarding to its own file's functions.
pub trait TableRules {
    /// Bits of a bucket index (`IP_VS_LBLC_TAB_BITS`, `IP_VS_LBLCR_TAB_BITS`).
    const TAB_BITS: u32;
    /// The bucket of an IPv4 target (address in network byte order), below `1 << TAB_BITS`.
    fn hashkey_v4(addr: [u8; 4]) -> u32;
    /// The bucket of an IPv6 target (address in network byte order), below `1 << TAB_BITS`.
    fn hashkey_v6(addr: [u8; 16]) -> u32;
    /// Whether a table holding `entries` entries may create a new one.
    fn may_create(entries: i32) -> bool;
}

/// lblc's table rules: [`hashkey_v4`], [`hashkey_v6`], [`may_create`].
pub struct Lblc;

impl TableRules for Lblc {
    const TAB_BITS: u32 = TAB_BITS;
    fn hashkey_v4(addr: [u8; 4]) -> u32 {
        hashkey_v4(addr)
    }
    fn hashkey_v6(addr: [u8; 16]) -> u32 {
        hashkey_v6(addr)
    }
    fn may_create(entries: i32) -> bool {
        may_create(entries)
    }
}

/// What the lblc and lblcr rules read of one real server: wlc's reads, with
/// [`wlc::ServerLoad::available`] for a server taken from the table.
pub use super::wlc::{DestLoad, ServerLoad};

/// C's `is_overloaded(dest, svc)`: `dest` has more active connections than its weight
/// (`activeconns > weight`) while some server of the service's list `all` (any of them,
/// including `dest`, overloaded and weight-0 servers alike) has fewer than half its weight
/// (`activeconns * 2 < weight`, computed in `int`).
pub fn is_overloaded<L, A, I>(dest: &L, all: I) -> bool
where
    L: wlc::ServerLoad,
    A: wlc::ServerLoad,
    I: IntoIterator<Item = A>,
{
    dest.activeconns() > dest.weight()
        && all
            .into_iter()
            .any(|d| d.activeconns().wrapping_mul(2) < d.weight())
}

/// Whether `ip_vs_lblc_schedule()` keeps the server cached for the target: it is available
/// (`IP_VS_DEST_CF_AVAILABLE`), has a positive weight and is not [`is_overloaded`] compared
/// with the service's servers `all`. C does not look at the cached server's
/// `IP_VS_DEST_F_OVERLOAD` flag here.
pub fn cached_is_usable<L, A, I>(cached: &L, all: I) -> bool
where
    L: ServerLoad,
    A: wlc::ServerLoad,
    I: IntoIterator<Item = A>,
{
    cached.available() && cached.weight() > 0 && !is_overloaded(cached, all)
}

/// `__ip_vs_lblc_schedule()`: the weighted least-connection server of the service's list.
///
/// In Linux 6.12.117 this is the very same choice as wlc (`ip_vs_wlc_schedule()`): the same
/// overhead ([`DestLoad::overhead`], `activeconns * 256 + totalconns`) and the same
/// comparison. The first server that is not overloaded and has a positive weight is the
/// candidate; a later one that is not overloaded replaces it only when strictly less loaded,
/// compared without division (`(s64)loh * dest->weight > (s64)doh * least->weight`). A later
/// weight-0 server can never win that comparison (overheads are not negative). `None` when no
/// server qualifies. `available` is not read.
pub fn least_conn<T, L, I>(dests: I) -> Option<T>
where
    L: wlc::ServerLoad,
    I: IntoIterator<Item = (T, L)>,
{
    wlc::pick(dests)
}

/// The outcome of [`schedule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice<T> {
    /// The cached server is still good: use it, the table does not change.
    Cached(T),
    /// Use this server and, unless the table is being flushed (`tbl->dead`), record it for the
    /// target as `ip_vs_lblc_new()` does: keep an existing entry that already points to it,
    /// otherwise drop the existing entry and create one with `lastuse = jiffies` if
    /// [`may_create`] allows.
    Fresh(T),
    /// No server: C logs `ip_vs_scheduler_err(svc, "no destination available")` and drops the
    /// connection. The table does not change.
    NoDest,
}

/// `ip_vs_lblc_schedule()`: the decision for a connection to a target whose table entry (if
/// any) caches the server `cached`, among the service's servers `dests` (in list order).
///
/// When an entry exists the caller first sets its `lastuse` to `jiffies`, whatever the
/// outcome. The cached server is used when [`cached_is_usable`]; otherwise (or without an
/// entry) the server is [`least_conn`] of the list.
pub fn schedule<T, L, I>(cached: Option<(T, L)>, dests: I) -> Choice<T>
where
    L: ServerLoad,
    I: Iterator<Item = (T, L)> + Clone,
{
    if let Some((dest, load)) = cached {
        if cached_is_usable(&load, dests.clone().map(|(_, d)| d)) {
            return Choice::Cached(dest);
        }
    }
    match least_conn(dests) {
        Some(dest) => Choice::Fresh(dest),
        None => Choice::NoDest,
    }
}

/// Which check a timer run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepKind {
    /// `ip_vs_lblc_full_check()`: every bucket; entries idle for the sysctl expiration go.
    Full,
    /// The table is over `max_size`: buckets from the rover on, entries idle for
    /// [`entry_timeout`] go, until `goal` entries went.
    OverCap,
}

/// The garbage-collection state of a table of `1 << BITS` buckets: C's `tbl->rover` and
/// `tbl->counter`. lblc uses [`Gc`], lblcr its own alias with its own constants.
///
/// The kernel module runs, from its timer (C's `ip_vs_lblc_check_expire()`):
///
/// ```text
/// if let Some(mut sweep) = gc.start(entries) {
///     let timeout = sweep.timeout(sysctl_expiration, HZ);
///     while let Some(bucket) = sweep.next_bucket() {
///         lock; for each entry of bucket:
///             if is_stale(now, entry.lastuse, timeout) { remove it; entries -= 1; sweep.removed(); }
///         unlock;
///     }
///     gc.finish(sweep);
/// }
/// re-arm the timer CHECK_EXPIRE_INTERVAL later;
/// ```
///
/// `now` is `jiffies` read once at the start of the run, as in C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableGc<const BITS: u32> {
    rover: usize,
    counter: i32,
}

/// One timer run's walk over the buckets, from [`TableGc::start`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableSweep<const BITS: u32> {
    kind: SweepKind,
    goal: i32,
    /// Buckets visited so far (C's `i`).
    visited: usize,
    /// The bucket visited last, or the rover before the first (C's `j`).
    bucket: usize,
}

/// The garbage-collection state of an lblc table.
pub type Gc = TableGc<TAB_BITS>;
/// One timer run of lblc's garbage collection.
pub type Sweep = TableSweep<TAB_BITS>;

impl<const BITS: u32> TableGc<BITS> {
    const SIZE: usize = 1 << BITS;
    const MASK: usize = Self::SIZE - 1;
    const MAX_SIZE: i32 = max_size(BITS);

    /// The state of a new table (`ip_vs_lblc_init_svc()`): `rover = 0`, `counter = 1`.
    pub const fn new() -> Self {
        TableGc {
            rover: 0,
            counter: 1,
        }
    }

    /// The start of a timer run, for a table holding `entries` entries (`tbl->entries`).
    ///
    /// Like C: when `counter % COUNT_FOR_FULL_EXPIRATION == 0`, a [`SweepKind::Full`] check
    /// (and `counter` goes back to 1); otherwise, when `entries <= max_size`, nothing but
    /// `counter++`; otherwise an [`SweepKind::OverCap`] sweep with
    /// `goal = min((entries - max_size) * 4 / 3, max_size / 2)` and `counter` unchanged.
    pub fn start(&mut self, entries: i32) -> Option<TableSweep<BITS>> {
        if self.counter % COUNT_FOR_FULL_EXPIRATION == 0 {
            self.counter = 1;
            return Some(TableSweep {
                kind: SweepKind::Full,
                goal: 0,
                visited: 0,
                bucket: self.rover,
            });
        }
        if entries <= Self::MAX_SIZE {
            self.counter = self.counter.wrapping_add(1);
            return None;
        }
        let goal = over_cap_goal(entries, Self::MAX_SIZE);
        Some(TableSweep {
            kind: SweepKind::OverCap,
            goal,
            visited: 0,
            bucket: self.rover,
        })
    }

    /// The end of a timer run: the rover stays at the last bucket visited (`tbl->rover = j`).
    pub fn finish(&mut self, sweep: TableSweep<BITS>) {
        self.rover = sweep.bucket;
    }

    /// C's `tbl->rover`: the bucket the last sweep ended at; the next one starts after it.
    pub fn rover(&self) -> usize {
        self.rover
    }

    /// C's `tbl->counter`: timer runs since the last full check, plus 1.
    pub fn counter(&self) -> i32 {
        self.counter
    }
}

impl<const BITS: u32> Default for TableGc<BITS> {
    fn default() -> Self {
        Self::new()
    }
}

/// `goal = (entries - max_size)*4/3; if (goal > max_size/2) goal = max_size/2;` in `int`.
pub const fn over_cap_goal(entries: i32, max_size: i32) -> i32 {
    let goal = entries.wrapping_sub(max_size).wrapping_mul(4) / 3;
    if goal > max_size / 2 {
        max_size / 2
    } else {
        goal
    }
}

impl<const BITS: u32> TableSweep<BITS> {
    /// Which check this is.
    pub fn kind(&self) -> SweepKind {
        self.kind
    }

    /// The idleness after which an entry goes, for [`is_stale`]: the sysctl expiration
    /// (`sysctl_expiration`, jiffies) for a full check, `ENTRY_TIMEOUT` ([`entry_timeout`] of
    /// `hz`) for an over-cap sweep.
    pub fn timeout(&self, sysctl_expiration: i32, hz: i32) -> i32 {
        match self.kind {
            SweepKind::Full => sysctl_expiration,
            SweepKind::OverCap => entry_timeout(hz),
        }
    }

    /// The next bucket to clean, or `None` when the run is over: C's
    /// `for (i = 0, j = tbl->rover; i < SIZE; i++) { j = (j + 1) & MASK; ... }`, which an
    /// over-cap sweep leaves after a bucket once `goal <= 0` (never before the first bucket).
    /// Every stale entry of a bucket is removed, even past the goal.
    pub fn next_bucket(&mut self) -> Option<usize> {
        if self.visited >= TableGc::<BITS>::SIZE
            || (self.kind == SweepKind::OverCap && self.visited > 0 && self.goal <= 0)
        {
            return None;
        }
        self.visited += 1;
        self.bucket = (self.bucket.wrapping_add(1)) & TableGc::<BITS>::MASK;
        Some(self.bucket)
    }

    /// Counts one removed entry (C's `goal--`).
    pub fn removed(&mut self) {
        self.goal = self.goal.wrapping_sub(1);
    }

    /// Entries still to remove before an over-cap sweep stops (0 for a full check).
    pub fn goal(&self) -> i32 {
        self.goal
    }
}
