// SPDX-License-Identifier: GPL-2.0
//! IPVS locality-based least-connection with replication scheduler (`lblcr`), in Rust.
//!
//! Like lblc, but each target (destination address) maps to a *set* of real servers: a
//! connection goes to the set's weighted least-connection member; when that member is
//! overloaded, the service's least-connection server joins the set and gets the connection;
//! when the set has more than one member and has not changed for
//! `net.ipv4.vs.lblcr_expiration` (default 24 h), its most loaded member is dropped. Exactly
//! the kernel's C `ip_vs_lblcr`, with the same table cap and garbage collection as lblc. The
//! decisions are the pure code of `core/src/lblcr.rs`; the table and the sets are read under
//! RCU on the packet path and written under the service's `sched_lock`.

use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;
// lblcr never removes a single entry outside the garbage collection.
#[allow(dead_code)]
#[path = "target_table.rs"]
mod target_table;

use glue::{
    jiffies, Addr, Dest, DestRef, Jiffies, NetSysctlDef, Packet, PerService, RcuList, ReadSide,
    SchedGuard, Scheduler, Service, TimerContext, HZ,
};
use sched_core::lblcr;
use target_table::{loads, Target, TargetAddr, TargetTable, Writer};

glue::module_ipvs_scheduler! {
    type: Lblcr,
    sysctl: Expiration,
    name: "ip_vs_lblcr_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs locality-based least-connection with replication scheduler (Rust)",
    license: "GPL",
}

// `net.ipv4.vs.lblcr_expiration`, per network namespace.
glue::net_sysctl!(
    Expiration,
    "lblcr_expiration",
    lblcr::default_expiration(HZ)
);

/// One target's server set (C's `struct ip_vs_lblcr_entry` with its `ip_vs_dest_set`).
struct Entry {
    addr: TargetAddr,
    /// Newest member first, as C's `list_add_rcu()` at the head.
    set: RcuList<DestRef>,
    /// The set's member count (C's `set.size`), changed only under the table's lock; the
    /// packet path reads it instead of walking the set.
    size: AtomicUsize,
    /// Jiffies of the set's last change (C's `set.lastmod`).
    lastmod: AtomicUsize,
    /// Jiffies of the last connection to the target; set by readers without the lock, as C.
    lastuse: AtomicUsize,
}

impl Target for Entry {
    fn addr(&self) -> &TargetAddr {
        &self.addr
    }
    fn lastuse(&self) -> &AtomicUsize {
        &self.lastuse
    }
}

/// C's `struct ip_vs_lblcr_table`.
type Table = TargetTable<Entry, lblcr::Lblcr, { lblcr::TAB_BITS }, { lblcr::TAB_SIZE }>;
type TableGuard<'a> = SchedGuard<'a, Writer<{ lblcr::TAB_BITS }>>;

impl Entry {
    /// The members, each with itself as its load, in list order.
    fn members<'a>(
        &'a self,
        read_side: &'a impl ReadSide,
    ) -> impl Iterator<Item = (&'a Dest, &'a Dest)> + 'a {
        self.set
            .iter(read_side)
            .map(|member| (&**member, &**member))
    }

    /// C's `ip_vs_dest_set_insert(set, dest, true)`: adds `dest` unless already a member.
    fn insert(&self, writer: &TableGuard<'_>, dest: &Dest) {
        if self
            .set
            .iter(writer)
            .any(|member| core::ptr::eq(&**member, dest))
        {
            return;
        }
        // Like C, an allocation failure leaves the set as it is.
        if self.set.push_front(writer, DestRef::new(dest)).is_ok() {
            self.size.fetch_add(1, Ordering::Relaxed);
            self.lastmod.store(jiffies(), Ordering::Relaxed);
        }
    }

    /// C's `ip_vs_dest_set_erase()`.
    fn erase(&self, writer: &TableGuard<'_>, dest: &Dest) {
        if self
            .set
            .remove_first(writer, |member| core::ptr::eq(&**member, dest))
        {
            self.size.fetch_sub(1, Ordering::Relaxed);
            self.lastmod.store(jiffies(), Ordering::Relaxed);
        }
    }
}

/// C's `ip_vs_lblcr_new()`: a new entry whose set holds `dest`, unless the table is full;
/// if another CPU created the entry meanwhile, `dest` joins its set.
fn record(svc: &Service, tbl: &Table, addr: Addr, dest: &Dest) {
    let writer = tbl.lock();
    if !writer.is_live() {
        return;
    }
    if let Some(en) = tbl.get(&addr, &writer) {
        en.insert(&writer, dest);
        return;
    }
    let now = jiffies();
    let entry = Entry {
        addr: TargetAddr::new(&addr),
        set: RcuList::new(svc),
        size: AtomicUsize::new(1),
        lastmod: AtomicUsize::new(now),
        lastuse: AtomicUsize::new(now),
    };
    // The entry is not published yet: nobody else can see its set.
    if entry.set.push_front(&writer, DestRef::new(dest)).is_ok() {
        tbl.insert(&writer, entry);
    }
}

impl PerService for Table {
    fn init(svc: &Service) -> Result<Self> {
        Table::new(svc)
    }
}

struct Lblcr;

impl Scheduler for Lblcr {
    const NAME: &'static CStr = c_str!("lblcr");
    type ServiceData = Table;
    const PERIOD: Option<Jiffies> = Some(lblcr::check_expire_interval(HZ) as _);

    fn done_service(_svc: &Service, tbl: &Table) {
        tbl.flush();
    }

    /// C's `ip_vs_lblcr_schedule()`.
    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, tbl: &'a Table, pkt: &'a Packet) -> Option<&'a Dest> {
        let addr = pkt.daddr();
        let Some(en) = tbl.get(&addr, pkt) else {
            // No entry: the least-connection server, recorded in a new entry. Without a
            // server C only logs a debug message here.
            let dest = lblcr::schedule_uncached(loads(svc))?;
            record(svc, tbl, addr, dest);
            return Some(dest);
        };
        en.lastuse.store(jiffies(), Ordering::Relaxed);
        let choice = lblcr::schedule_cached(
            en.members(pkt),
            en.size.load(Ordering::Relaxed),
            || lblcr::SetAge {
                lastmod: en.lastmod.load(Ordering::Relaxed),
                now: jiffies(),
                expiration: Expiration::sysctl().get_in(svc, pkt),
            },
            || {
                let writer = tbl.lock();
                if en.size.load(Ordering::Relaxed) > 1 {
                    if let Some(most) = lblcr::set_max(en.members(&writer)) {
                        en.erase(&writer, most);
                    }
                }
            },
            loads(svc),
        );
        match choice {
            lblcr::Choice::Member(dest) => Some(dest),
            lblcr::Choice::Add(dest) => {
                let writer = tbl.lock();
                if writer.is_live() {
                    en.insert(&writer, dest);
                }
                Some(dest)
            }
            lblcr::Choice::NoDest => svc.refuse(c_str!("no destination available")),
        }
    }

    fn periodic(svc: &Service, tbl: &Table, timer: &TimerContext) {
        tbl.collect_garbage(timer, || Expiration::sysctl().get(svc), jiffies());
    }
}
