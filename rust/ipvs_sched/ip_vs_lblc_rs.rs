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

use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use kernel::{c_str, prelude::*};

#[path = "ipvs.rs"]
mod ipvs;
// The pure decision code, the same files the host crate `ipvs-sched-core` tests.
#[allow(dead_code, unreachable_pub)]
#[path = "core/src/lblc.rs"]
mod lblc;
#[allow(dead_code, unreachable_pub)]
#[path = "core/src/wlc.rs"]
mod wlc;

use ipvs::{
    jiffies, Addr, Dest, DestRef, NetSysctl, NetSysctlDef, Packet, RcuList, ReadSide,
    SchedGuard, SchedLocked, Scheduler, Service, HZ,
};

module! {
    type: LblcModule,
    name: "ip_vs_lblc_rs",
    author: "Socket Level Hash Developers",
    description: "ipvs locality-based least-connection scheduler (Rust)",
    license: "GPL",
}

/// `net.ipv4.vs.lblc_expiration`, per network namespace.
static EXPIRATION: NetSysctl =
    NetSysctl::new(c_str!("lblc_expiration"), lblc::default_expiration(HZ));

struct Expiration;

impl NetSysctlDef for Expiration {
    fn sysctl() -> &'static NetSysctl {
        &EXPIRATION
    }
}

/// One target's cached server (C's `struct ip_vs_lblc_entry`).
struct Entry {
    addr: Addr,
    dest: DestRef,
    /// Jiffies of the last connection to the target; set by readers without the lock, as C.
    lastuse: AtomicUsize,
}

/// What the writers change under `sched_lock`.
struct Writer {
    gc: lblc::Gc,
    /// Set by `done_service`: the table is being flushed, no entry may be added.
    dead: bool,
}

/// The per-service table (C's `struct ip_vs_lblc_table`).
struct Table {
    buckets: KVec<RcuList<Entry>>,
    /// Number of entries; changed under `sched_lock`, read without it, as C's `atomic_t`.
    entries: AtomicI32,
    writer: SchedLocked<Writer>,
}

fn load(dest: &Dest) -> lblc::DestLoad {
    lblc::DestLoad {
        weight: dest.weight(),
        overloaded: dest.is_overloaded(),
        available: dest.is_available(),
        activeconns: dest.activeconns(),
        totalconns: dest.totalconns(),
    }
}

fn loads(svc: &Service) -> impl Iterator<Item = (&Dest, lblc::DestLoad)> + Clone + '_ {
    svc.destinations().map(|dest| (dest, load(dest)))
}

impl Table {
    fn bucket(&self, addr: &Addr) -> &RcuList<Entry> {
        let hash = match addr {
            Addr::V4(a) => lblc::hashkey_v4(*a),
            Addr::V6(a) => lblc::hashkey_v6(*a),
        };
        // `hashkey_*` return `hash_32(.., TAB_BITS)`, below `TAB_SIZE` = `buckets.len()`.
        &self.buckets[hash as usize]
    }

    fn get<'a>(&'a self, addr: &Addr, read_side: &'a impl ReadSide) -> Option<&'a Entry> {
        self.bucket(addr).iter(read_side).find(|en| en.addr == *addr)
    }

    /// C's `ip_vs_lblc_new()`: records `dest` for `addr`, replacing an entry that points to
    /// another server, unless the table is full (then the connection still gets `dest`).
    fn record(&self, writer: &SchedGuard<'_, Writer>, addr: Addr, dest: &Dest) {
        let bucket = self.bucket(&addr);
        if let Some(en) = self.get(&addr, writer) {
            if core::ptr::eq(&*en.dest, dest) {
                return;
            }
            if bucket.remove_first(writer, |e| e.addr == addr) {
                self.entries.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if !lblc::may_create(self.entries.load(Ordering::Relaxed)) {
            return;
        }
        let entry = Entry {
            addr,
            dest: DestRef::new(dest),
            lastuse: AtomicUsize::new(jiffies() as usize),
        };
        // Like C, an allocation failure only means the target is not cached.
        if bucket.push_front(writer, entry).is_ok() {
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Lblc;

impl Scheduler for Lblc {
    const NAME: &'static CStr = c_str!("lblc");
    type ServiceData = Table;
    const PERIOD: Option<ipvs::Jiffies> = Some(lblc::check_expire_interval(HZ) as _);

    fn init_service(svc: &Service) -> Result<Table> {
        let mut buckets = KVec::with_capacity(lblc::TAB_SIZE, GFP_KERNEL)?;
        for _ in 0..lblc::TAB_SIZE {
            buckets.push(RcuList::new(), GFP_KERNEL)?;
        }
        Ok(Table {
            buckets,
            entries: AtomicI32::new(0),
            writer: SchedLocked::new(
                svc,
                Writer {
                    gc: lblc::Gc::new(),
                    dead: false,
                },
            ),
        })
    }

    /// C's `ip_vs_lblc_flush()`: every entry goes (after a grace period, with its server
    /// reference), and no new one may be added.
    fn done_service(_svc: &Service, tbl: &Table) {
        let mut writer = tbl.writer.lock();
        writer.dead = true;
        for bucket in tbl.buckets.iter() {
            let removed = bucket.retain(&writer, |_| false);
            tbl.entries.fetch_sub(removed as i32, Ordering::Relaxed);
        }
    }

    fn schedule<'a>(svc: &'a Service, tbl: &'a Table, pkt: &'a Packet) -> Option<&'a Dest> {
        let addr = pkt.daddr();
        let cached = tbl.get(&addr, pkt).map(|en| {
            en.lastuse.store(jiffies() as usize, Ordering::Relaxed);
            (&*en.dest, load(&en.dest))
        });
        match lblc::schedule(cached, loads(svc)) {
            lblc::Choice::Cached(dest) => Some(dest),
            lblc::Choice::Fresh(dest) => {
                let writer = tbl.writer.lock();
                if !writer.dead {
                    tbl.record(&writer, addr, dest);
                }
                Some(dest)
            }
            lblc::Choice::NoDest => {
                svc.scheduler_err(c_str!("no destination available"));
                None
            }
        }
    }

    /// C's `ip_vs_lblc_check_expire()`.
    fn periodic(svc: &Service, tbl: &Table) {
        let now = jiffies();
        let Some(mut sweep) = tbl.writer.lock().gc.start(tbl.entries.load(Ordering::Relaxed))
        else {
            return;
        };
        let timeout = sweep.timeout(EXPIRATION.get(svc), HZ);
        while let Some(j) = sweep.next_bucket() {
            let writer = tbl.writer.lock();
            let removed = tbl.buckets[j].retain(&writer, |en| {
                !lblc::is_stale(now as _, en.lastuse.load(Ordering::Relaxed) as _, timeout)
            });
            tbl.entries.fetch_sub(removed as i32, Ordering::Relaxed);
            for _ in 0..removed {
                sweep.removed();
            }
        }
        tbl.writer.lock().gc.finish(sweep);
    }
}

struct LblcModule {
    // Dropped in this order: the scheduler goes before the sysctl it reads.
    _scheduler: ipvs::Registration<Lblc>,
    _sysctl: ipvs::NetSysctlRegistration,
}

impl kernel::Module for LblcModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let sysctl = NetSysctl::register::<Expiration>()?;
        Ok(LblcModule {
            _scheduler: ipvs::Registration::new(module)?,
            _sysctl: sysctl,
        })
    }
}
