// SPDX-License-Identifier: GPL-2.0
//! Locality-based least-connection with replication rules, exactly as the kernel's
//! `ip_vs_lblcr.c` applies them.
//!
//! Pure code: meant to be compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core` where it is property-tested against a reference model. lblcr maps each
//! target address to a *set* of servers; the table and the sets belong to the kernel module,
//! this file holds what C decides about them:
//!
//! * the set's least and most loaded members: [`set_min`] (`ip_vs_dest_set_min()`) and
//!   [`set_max`] (`ip_vs_dest_set_max()`);
//! * the decision for a connection: [`schedule_cached`] and [`schedule_uncached`]
//!   (`ip_vs_lblcr_schedule()`), with [`should_drop_most_loaded`];
//! * the table rules it shares with lblc, with lblcr's constants: hashing ([`hashkey_v4`],
//!   [`hashkey_v6`]), the creation cap ([`may_create`]) and garbage collection ([`Gc`],
//!   [`Sweep`], [`is_stale`]).
//!
//! This file uses `lblc.rs` as the sibling module `super::lblc`: a kernel module that includes
//! this file must include that one next to it.
//!
//! # Sets
//!
//! A set is a list of distinct servers. The caller passes its members in list order, which
//! matters for ties: `ip_vs_dest_set_insert()` adds a new member at the *front*
//! (`list_add_rcu(&e->list, &set->list)`) and sets `set->lastmod = jiffies`; with `check`
//! (every insert except the first member of a new entry) a server already in the set changes
//! nothing, not even `lastmod`. `ip_vs_dest_set_erase()` removes the member and sets
//! `lastmod = jiffies`.
#![forbid(unsafe_code)]

pub use super::lblc::{
    check_expire_interval, default_expiration, entry_timeout, fold_v6, hash_32, is_overloaded,
    is_stale, jiffies_add, least_conn, over_cap_goal, time_after, time_before, DestLoad, Jiffies,
    ServerLoad, SweepKind, TableGc, TableSweep, COUNT_FOR_FULL_EXPIRATION, GOLDEN_RATIO_32,
};

/// `IP_VS_LBLCR_TAB_BITS`: `CONFIG_IP_VS_LBLCR_TAB_BITS` has no Kconfig entry in Linux 6.12,
/// so C's default of 10 always applies.
pub const TAB_BITS: u32 = 10;
/// `IP_VS_LBLCR_TAB_SIZE`: number of hash buckets.
pub const TAB_SIZE: usize = 1 << TAB_BITS;
/// `IP_VS_LBLCR_TAB_MASK`.
pub const TAB_MASK: usize = TAB_SIZE - 1;
/// `tbl->max_size = IP_VS_LBLCR_TAB_SIZE*16`.
pub const MAX_SIZE: i32 = super::lblc::max_size(TAB_BITS);
/// `tbl->max_size * 3 / 2`: with this many entries no new entry is created ([`may_create`]).
pub const CREATE_LIMIT: i32 = super::lblc::create_limit(TAB_BITS);

/// The garbage-collection state of an lblcr table (`tbl->rover`, `tbl->counter`); the timer
/// runs it exactly as lblc's, see [`TableGc`]. The full check uses the sysctl
/// `net.ipv4.vs.lblcr_expiration` (default [`default_expiration`]).
pub type Gc = TableGc<TAB_BITS>;
/// One timer run of lblcr's garbage collection. A removed entry takes its whole set with it.
pub type Sweep = TableSweep<TAB_BITS>;

/// `ip_vs_lblcr_hashkey()` for an IPv4 target (`addr` in network byte order).
pub const fn hashkey_v4(addr: [u8; 4]) -> u32 {
    hash_32(u32::from_be_bytes(addr), TAB_BITS)
}

/// `ip_vs_lblcr_hashkey()` for an IPv6 target (`addr` in network byte order), folded to 32
/// bits as [`fold_v6`].
pub const fn hashkey_v6(addr: [u8; 16]) -> u32 {
    hash_32(fold_v6(addr), TAB_BITS)
}

/// `ip_vs_lblcr_new()` for a target without an entry creates one only while the table holds
/// fewer than [`CREATE_LIMIT`] entries; its set starts with the chosen server
/// (`lastmod = lastuse = jiffies`). When the entry exists (another CPU created it meanwhile)
/// the server is inserted into its set with `check`.
pub const fn may_create(entries: i32) -> bool {
    entries < CREATE_LIMIT
}

/// lblcr's table rules: [`hashkey_v4`], [`hashkey_v6`], [`may_create`].
pub struct Lblcr;

impl super::lblc::TableRules for Lblcr {
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

/// `ip_vs_dest_set_min()` with the member's load.
fn set_min_load<T, L, S>(set: S) -> Option<(T, L)>
where
    L: ServerLoad,
    S: IntoIterator<Item = (T, L)>,
{
    let mut set = set.into_iter();
    let (mut least, mut least_load) =
        set.find(|(_, d)| !d.overloaded() && d.weight() > 0 && d.available())?;
    // Most sets have one member (a set grows only when its member is overloaded): their
    // candidate's overhead is never compared, so it is computed only once another member
    // follows, as C's compiled code does.
    let mut next = set.next();
    if next.is_none() {
        return Some((least, least_load));
    }
    let mut loh = least_load.overhead();
    while let Some((dest, load)) = next {
        next = set.next();
        if load.overloaded() {
            continue;
        }
        let doh = load.overhead();
        if i64::from(loh) * i64::from(load.weight())
            > i64::from(doh) * i64::from(least_load.weight())
            && load.available()
        {
            least = dest;
            least_load = load;
            loh = doh;
        }
    }
    Some((least, least_load))
}

/// `ip_vs_dest_set_min()`: the weighted least-connection member of a set (members in list
/// order).
///
/// Like C: the first member that is not overloaded, has a positive weight and is available
/// (`IP_VS_DEST_CF_AVAILABLE`) is the candidate; a later member that is not overloaded
/// replaces it only when strictly less loaded (`(s64)loh * dest->weight > (s64)doh *
/// least->weight`) and available. The later member's weight is not tested: a weight-0 member
/// cannot win the comparison (overheads are not negative). `None` when no member qualifies.
pub fn set_min<T, L, S>(set: S) -> Option<T>
where
    L: ServerLoad,
    S: IntoIterator<Item = (T, L)>,
{
    set_min_load(set).map(|(dest, _)| dest)
}

/// `ip_vs_dest_set_max()`: the weighted most-connection member of a set (members in list
/// order), the one lblcr drops.
///
/// Like C: the first member with a positive weight is the candidate, and a later one with a
/// positive weight replaces it only when strictly more loaded
/// (`(s64)moh * dest->weight < (s64)doh * most->weight`), so the first of equally loaded
/// members stays. Unlike [`set_min`], overloaded and unavailable members count. `None` when
/// no member has a positive weight.
pub fn set_max<T, L, S>(set: S) -> Option<T>
where
    L: ServerLoad,
    S: IntoIterator<Item = (T, L)>,
{
    let mut set = set.into_iter();
    let (mut most, mut most_load) = set.find(|(_, d)| d.weight() > 0)?;
    let mut moh = most_load.overhead();
    for (dest, load) in set {
        let doh = load.overhead();
        if i64::from(moh) * i64::from(load.weight())
            < i64::from(doh) * i64::from(most_load.weight())
            && load.weight() > 0
        {
            most = dest;
            most_load = load;
            moh = doh;
        }
    }
    Some(most)
}

/// Whether `ip_vs_lblcr_schedule()` drops the most loaded member of a set of `set_size`
/// members last modified at `lastmod`: more than one member and
/// `time_after(jiffies, set->lastmod + sysctl_lblcr_expiration)`, i.e. strictly more than
/// `expiration` jiffies since the set last changed (with wrap-around).
pub const fn should_drop_most_loaded(
    set_size: usize,
    lastmod: Jiffies,
    now: Jiffies,
    expiration: i32,
) -> bool {
    set_size > 1 && time_after(now, jiffies_add(lastmod, expiration))
}

/// The server chosen for a target that has an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice<T> {
    /// The set's least loaded member is not overloaded: use it, the set keeps its members.
    Member(T),
    /// Use this server (the weighted least-connection server of the service) and, unless the
    /// table is being flushed (`tbl->dead`), insert it into the set with `check`.
    Add(T),
    /// No server: C logs `ip_vs_scheduler_err(svc, "no destination available")`.
    NoDest,
}

/// What decides whether a set is stale, read only for a set of several members (as C reads
/// the sysctl and `lastmod` only then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetAge {
    /// Jiffies of the set's last change (`set->lastmod`).
    pub lastmod: Jiffies,
    /// `jiffies`.
    pub now: Jiffies,
    /// The sysctl `lblcr_expiration`.
    pub expiration: i32,
}

/// `ip_vs_lblcr_schedule()` for a target that has an entry, whose set has the members `set`
/// (each with its load, in list order) and `size` members (C's `set->size`); `dests` are the
/// service's servers in list order. The caller has set the entry's `lastuse` to `jiffies`.
///
/// Like C: the candidate is [`set_min`], taken *before* the drop. Then, for a set of more
/// than one member whose `age()` says [`should_drop_most_loaded`], `drop_most_loaded()` is
/// called: under the scheduler lock, if the set still has more than one member, the caller
/// erases its [`set_max`] member (`ip_vs_dest_set_erase()`, `lastmod = jiffies`), which may
/// be the candidate: C still returns it. The candidate is used unless there is none or it
/// [`is_overloaded`] compared with the service's servers; then the server is [`least_conn`]
/// of the service, for the caller to insert into the set ([`Choice::Add`]).
pub fn schedule_cached<T, M, L, S, I>(
    set: S,
    size: usize,
    age: impl FnOnce() -> SetAge,
    drop_most_loaded: impl FnOnce(),
    dests: I,
) -> Choice<T>
where
    M: ServerLoad,
    L: ServerLoad,
    S: IntoIterator<Item = (T, M)>,
    I: Iterator<Item = (T, L)> + Clone,
{
    let candidate = set_min_load(set);
    if size > 1 {
        let age = age();
        if should_drop_most_loaded(size, age.lastmod, age.now, age.expiration) {
            drop_most_loaded();
        }
    }
    if let Some((dest, load)) = candidate {
        if !is_overloaded(&load, dests.clone().map(|(_, d)| d)) {
            return Choice::Member(dest);
        }
    }
    match least_conn(dests) {
        Some(dest) => Choice::Add(dest),
        None => Choice::NoDest,
    }
}

/// `ip_vs_lblcr_schedule()` for a target without an entry: the [`least_conn`] server of the
/// service (`dests`, in list order), which the caller records in a new entry (unless the
/// table is being flushed) as [`may_create`] says. On `None` C only logs a debug message
/// (`IP_VS_DBG(1, "no destination available\n")`), not `ip_vs_scheduler_err()`.
pub fn schedule_uncached<T, L, I>(dests: I) -> Option<T>
where
    L: ServerLoad,
    I: IntoIterator<Item = (T, L)>,
{
    least_conn(dests)
}
