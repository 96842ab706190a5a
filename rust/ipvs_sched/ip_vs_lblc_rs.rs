// SPDX-License-Identifier: GPL-2.0
//! IPVS locality-based least-connection scheduler (`lblc`), in Rust.
//!
//! For cache clusters: connections to one destination address (the "target") go to the same
//! real server as long as it is not overloaded, so each cache server keeps its own share of
//! the targets. A table maps target → server; a target without an entry, or whose server is
//! unavailable, quiesced or overloaded, gets the weighted least-connection server, which the
//! table then records. Exactly the kernel's C `ip_vs_lblc`: the same hash, the same overload
//! rule, the same table cap and the same garbage collection every 60 s (entries idle longer
//! than `net.ipv4.vs.lblc_expiration`, default 24 h, go on every 30th run; entries idle for
//! 6 min go when the table holds more than 16384). The decisions are the pure code of
//! `core/src/lblc.rs`; the table is read under RCU on the packet path and written under the
//! service's `sched_lock`.

use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::{c_str, prelude::*};

#[path = "glue/mod.rs"]
pub mod glue;
#[path = "core/src/lib.rs"]
pub mod sched_core;
#[path = "target_table.rs"]
mod target_table;

use glue::{
    jiffies, Addr, Dest, DestRef, Jiffies, NetSysctlDef, Packet, PerService, Scheduler, Service,
    TimerContext, HZ,
};
use sched_core::lblc;
use target_table::{loads, Target, TargetAddr, TargetTable};

glue::module_ipvs_scheduler! {
    type: Lblc,
    sysctl: Expiration,
    name: "ip_vs_lblc_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs locality-based least-connection scheduler (Rust)",
    license: "GPL",
}

// `net.ipv4.vs.lblc_expiration`, per network namespace.
glue::net_sysctl!(Expiration, "lblc_expiration", lblc::default_expiration(HZ));

/// One target's cached server (C's `struct ip_vs_lblc_entry`).
struct Entry {
    addr: TargetAddr,
    dest: DestRef,
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

/// C's `struct ip_vs_lblc_table`.
type Table = TargetTable<Entry, lblc::Lblc, { lblc::TAB_BITS }, { lblc::TAB_SIZE }>;

/// C's `ip_vs_lblc_new()`: records `dest` for `addr`, replacing an entry that points to
/// another server, unless the table is full (then the connection still gets `dest`).
fn record(tbl: &Table, addr: Addr, dest: &Dest) {
    let writer = tbl.lock();
    if !writer.is_live() {
        return;
    }
    if let Some(en) = tbl.get(&addr, &writer) {
        if core::ptr::eq(&*en.dest, dest) {
            return;
        }
        tbl.remove(&writer, &addr);
    }
    let entry = Entry {
        addr: TargetAddr::new(&addr),
        dest: DestRef::new(dest),
        lastuse: AtomicUsize::new(jiffies()),
    };
    tbl.insert(&writer, entry);
}

impl PerService for Table {
    fn init(svc: &Service) -> Result<Self> {
        Table::new(svc)
    }
}

struct Lblc;

impl Scheduler for Lblc {
    const NAME: &'static CStr = c_str!("lblc");
    type ServiceData = Table;
    const PERIOD: Option<Jiffies> = Some(lblc::check_expire_interval(HZ) as _);

    fn done_service(_svc: &Service, tbl: &Table) {
        tbl.flush();
    }

    /// C's `ip_vs_lblc_schedule()`.
    // Inlined into the glue's trampoline, the function IPVS calls: one call per packet, as C.
    #[inline(always)]
    fn schedule<'a>(svc: &'a Service, tbl: &'a Table, pkt: &'a Packet) -> Option<&'a Dest> {
        let addr = pkt.daddr();
        let cached = tbl.get(&addr, pkt).map(|en| {
            en.lastuse.store(jiffies(), Ordering::Relaxed);
            (&*en.dest, &*en.dest)
        });
        match lblc::schedule(cached, loads(svc)) {
            lblc::Choice::Cached(dest) => Some(dest),
            lblc::Choice::Fresh(dest) => {
                record(tbl, addr, dest);
                Some(dest)
            }
            lblc::Choice::NoDest => svc.refuse(c_str!("no destination available")),
        }
    }

    fn periodic(svc: &Service, tbl: &Table, timer: &TimerContext) {
        tbl.collect_garbage(timer, || Expiration::sysctl().get(svc), jiffies());
    }
}
