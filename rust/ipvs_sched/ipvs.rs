// SPDX-License-Identifier: GPL-2.0
//! IPVS scheduler glue: the one place where the Rust schedulers meet IPVS's C code.
//!
//! Every `unsafe` block and every call into IPVS made for the Rust schedulers is in this file.
//! A scheduler implements [`Scheduler`] (in the style of `kernel::net::phy::Driver`) and its
//! module keeps a [`Registration`]; IPVS then calls the scheduler through an `ip_vs_scheduler`
//! table whose entries are the `extern "C"` trampolines below. The scheduler sees IPVS objects
//! only through the safe views [`Service`] and [`Dest`].
//!
//! Each scheduler module includes this file with `#[path]` as a private module: a module uses
//! only part of it, and its `pub` items are the API for the scheduler, not exports.
#![allow(dead_code, unreachable_pub)]

use core::{
    cell::{Cell, UnsafeCell},
    ffi::{c_int, c_uint},
    marker::PhantomData,
    ops::{Deref, DerefMut},
    pin::Pin,
    ptr::{addr_of, addr_of_mut, NonNull},
    sync::atomic::{AtomicPtr, AtomicUsize, Ordering},
};
use kernel::{
    bindings,
    error::{from_result, to_result},
    prelude::*,
    str::CStr,
    types::Opaque,
    ThisModule,
};

/// An IPVS connection scheduler.
///
/// IPVS calls `init_service`, `done_service` and the destination callbacks in process context
/// with its configuration mutex held, and `schedule` on the packet path (softirq) inside an RCU
/// read-side critical section.
pub trait Scheduler: 'static {
    /// The name users pass to `ipvsadm -s`.
    const NAME: &'static CStr;

    /// State kept per virtual service. Created when a service starts using the scheduler and
    /// dropped one RCU grace period after it stops, since the packet path may still read it
    /// until then. It is dropped from an RCU callback: its `Drop` must not sleep.
    type ServiceData: Send + Sync;

    /// A service starts using this scheduler.
    fn init_service(svc: &Service) -> Result<Self::ServiceData>;

    /// A service stops using this scheduler; `data` is dropped after the next grace period.
    fn done_service(_svc: &Service, _data: &Self::ServiceData) {}

    /// A real server was added to the service.
    fn add_dest(_svc: &Service, _data: &Self::ServiceData, _dest: &Dest) -> Result {
        Ok(())
    }

    /// A real server was removed from the service's list (it stays valid during the call).
    fn del_dest(_svc: &Service, _data: &Self::ServiceData, _dest: &Dest) -> Result {
        Ok(())
    }

    /// A real server's settings (weight, thresholds, forwarding method) changed.
    fn upd_dest(_svc: &Service, _data: &Self::ServiceData, _dest: &Dest) -> Result {
        Ok(())
    }

    /// Chooses the real server for a new connection, whose first packet is `pkt`, or `None`
    /// to refuse it (call [`Service::scheduler_err`] to say why, as the C schedulers do).
    /// The returned server is one of the service's list or one the scheduler holds a
    /// [`DestRef`] to; both stay valid until the RCU read-side section of the packet ends.
    fn schedule<'a>(
        svc: &'a Service,
        data: &'a Self::ServiceData,
        pkt: &'a Packet,
    ) -> Option<&'a Dest>;

    /// Period, in jiffies, of a timer per service that calls [`Scheduler::periodic`] (C's
    /// garbage-collection timers); `None` for no timer. The timer is armed after
    /// `init_service` and stopped synchronously before `done_service`.
    const PERIOD: Option<Jiffies> = None;

    /// Runs every [`Scheduler::PERIOD`] jiffies in timer (softirq) context.
    fn periodic(_svc: &Service, _data: &Self::ServiceData, _timer: &TimerContext) {}
}

/// Proof that the code runs in a service's periodic timer callback: softirq context, bottom
/// halves already off, so [`SchedLocked::lock_in_timer`] needs no `spin_lock_bh` (C's
/// garbage-collection timers take `sched_lock` with a plain `spin_lock()`). Only the glue's
/// timer callback makes one.
pub struct TimerContext {
    _private: (),
}

/// The kernel's tick rate (`HZ`, i.e. `CONFIG_HZ`; the bindings' `HZ` is the user-space 100).
pub const HZ: i32 = bindings::CONFIG_HZ as i32;

/// The kernel's `unsigned long`, the type of jiffies (`usize` in the kernel's `ffi`, while
/// `core::ffi::c_ulong` is `u64`).
pub type Jiffies = usize;

/// The current time in jiffies.
pub fn jiffies() -> Jiffies {
    // SAFETY: `jiffies` is a kernel variable updated by the timer interrupt; reading it with
    // a volatile load is what the C macro does.
    unsafe { core::ptr::read_volatile(addr_of!(bindings::jiffies)) }
}

/// What a scheduler sees of the first packet of a new connection (`struct ip_vs_iphdr`).
/// It also stands for the call's RCU read-side section ([`ReadSide`]).
pub struct Packet {
    daddr: Addr,
    /// The service being scheduled, its count of list changes and that count as this call
    /// read it first (read only by the schedulers that keep a place in the list, and once per
    /// call): what [`Service::destinations_after`] checks a cursor against.
    svc: *const bindings::ip_vs_service,
    list_changes: *const AtomicUsize,
    list_changes_seen: Cell<Option<usize>>,
}

impl Packet {
    /// The count of the service's list changes, as this call first read it.
    fn list_changes(&self) -> usize {
        if let Some(seen) = self.list_changes_seen.get() {
            return seen;
        }
        // SAFETY: the counter lives in the service's scheduler state, which stays valid until
        // the RCU read-side section of this call ends.
        let seen = unsafe { (*self.list_changes).load(Ordering::Acquire) };
        self.list_changes_seen.set(Some(seen));
        seen
    }

    /// The destination address: the key of the locality-based schedulers.
    pub fn daddr(&self) -> Addr {
        self.daddr
    }
}

/// A virtual service (`struct ip_vs_service`), seen from inside a scheduler callback.
///
/// # Invariants
///
/// Only created by the trampolines from the pointer IPVS passes, valid for the callback.
#[repr(transparent)]
pub struct Service(Opaque<bindings::ip_vs_service>);

impl Service {
    /// # Safety
    ///
    /// `ptr` is a service IPVS passed to a scheduler callback; the result is not used after
    /// the callback returns.
    unsafe fn from_raw<'a>(ptr: *mut bindings::ip_vs_service) -> &'a Self {
        // SAFETY: `Service` is a transparent wrapper of the C struct; validity as per the
        // function's safety requirements.
        unsafe { &*ptr.cast::<Self>() }
    }

    fn as_ptr(&self) -> *mut bindings::ip_vs_service {
        self.0.get()
    }

    /// True for an IPv6 service.
    pub fn is_ipv6(&self) -> bool {
        // SAFETY: `af` is set when the service is created and never changes afterwards.
        unsafe { (*self.as_ptr()).af == bindings::AF_INET6 as u16 }
    }

    /// The service's real servers, in list order.
    ///
    /// Walking the list needs the RCU read lock or IPVS's configuration mutex; every callback
    /// that receives a [`Service`] runs with one of them held.
    pub fn destinations(&self) -> Destinations<'_> {
        // SAFETY: the list head lives in the service, valid for the callback.
        let head = unsafe { core::ptr::addr_of_mut!((*self.as_ptr()).destinations) };
        Destinations {
            head,
            pos: head,
            _service: PhantomData,
        }
    }

    /// The service's real servers after the one `from` points to (all of them for `None`),
    /// in list order, each with its cursor: C's `list_for_each_entry_continue_rcu()` from a
    /// remembered `mark->cl`, without walking the list from its head.
    ///
    /// A cursor is followed only in a call for the same service and only if the list has not
    /// changed since it was handed out (the glue counts every add, delete and edit of a real
    /// server before the scheduler's callback runs); otherwise the walk starts at the head,
    /// which is where C's wrr resets its place on each change.
    pub fn destinations_after<'a>(
        &'a self,
        pkt: &'a Packet,
        from: Option<DestCursor>,
    ) -> DestWalk<'a> {
        let mut dests = self.destinations();
        if let Some(cursor) = from {
            if cursor.svc == self.as_ptr().cast_const()
                && pkt.svc == cursor.svc
                && pkt.list_changes() == cursor.list_changes
            {
                // The node was a real server of this service when this call's count of
                // list changes was current, so this call's RCU read-side section (`pkt`)
                // began before any later unlink of it was counted, and so before it (or its
                // successor, unlinked later) can be freed: IPVS frees a real server only
                // after a grace period (`call_rcu()`), after its deletion, whose callback the
                // count comes before. An unlinked node keeps its `next` pointer
                // (`list_del_rcu()`), so the walk from it reaches the head, as C's does.
                dests.pos = cursor.node.as_ptr();
            }
        }
        DestWalk {
            dests,
            svc: self.as_ptr().cast_const(),
            list_changes: pkt.list_changes(),
        }
    }

    /// The network namespace of the service.
    fn net(&self) -> *mut bindings::net {
        // SAFETY: `ipvs` is set when the service is created, and its netns outlives it.
        unsafe { (*(*self.as_ptr()).ipvs).net }
    }

    /// Reports that the scheduler could not choose a server (rate-limited kernel log line
    /// naming the service), as `ip_vs_scheduler_err()` does for the C schedulers.
    pub fn scheduler_err(&self, msg: &CStr) {
        // SAFETY: the service is valid for the callback and `msg` is NUL-terminated.
        unsafe { bindings::ip_vs_scheduler_err(self.as_ptr(), msg.as_char_ptr()) }
    }
}

/// Iterator over a service's real servers (`list_for_each_entry_rcu`). Cloning it gives a
/// second walk from the same position (schedulers that need two passes, as C's do).
#[derive(Clone)]
pub struct Destinations<'a> {
    head: *mut bindings::list_head,
    pos: *mut bindings::list_head,
    _service: PhantomData<&'a Service>,
}

impl<'a> Iterator for Destinations<'a> {
    type Item = &'a Dest;

    fn next(&mut self) -> Option<&'a Dest> {
        // SAFETY: `pos` is the list head or a node reached from it; every callback that
        // receives a `Service` runs under the RCU read lock (`schedule`, and `periodic`, whose
        // timer callback takes it) or IPVS's configuration mutex (the others), so nodes stay
        // valid.
        // A volatile load of `next` is what C's `list_for_each_entry_rcu()` does
        // (`READ_ONCE()`, which needs no barrier on the architectures Rust supports); it is
        // done here rather than through a `rust_helper_*` C function, whose call would cost
        // more than the load on the packet path.
        let next = unsafe { core::ptr::read_volatile(addr_of!((*self.pos).next)) };
        if next == self.head {
            return None;
        }
        // SAFETY: the list is circular: every `next` points to a node or to the head, never
        // null. Saying so spares the walk a test per server (the `Option` returned below
        // would otherwise check the pointer).
        unsafe { core::hint::assert_unchecked(!next.is_null()) };
        self.pos = next;
        // SAFETY: every node of `svc->destinations` is the `n_list` member of an `ip_vs_dest`.
        let dest = unsafe { kernel::container_of!(next, bindings::ip_vs_dest, n_list) };
        // SAFETY: the destination stays valid while the list walk is protected (see above).
        Some(unsafe { Dest::from_raw(dest.cast_mut()) })
    }
}

/// A place in a service's list of real servers, kept by a scheduler between two calls: C's
/// wrr keeps `mark->cl` so that the next call continues after the server it chose last.
/// Handed out by [`Service::destinations_after`] with each server; it can only be given back
/// to that function, which checks that it is still valid before following it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestCursor {
    /// Never null: a `Position` of the core needs no tag of its own beside it.
    node: NonNull<bindings::list_head>,
    svc: *const bindings::ip_vs_service,
    list_changes: usize,
}

// SAFETY: a cursor is a plain value; it is only dereferenced by `DestWalk`, after the checks
// described there, on whichever CPU.
unsafe impl Send for DestCursor {}
// SAFETY: as above.
unsafe impl Sync for DestCursor {}

/// Iterator over a service's real servers after a place, with the cursor of each
/// ([`Service::destinations_after`]).
pub struct DestWalk<'a> {
    dests: Destinations<'a>,
    svc: *const bindings::ip_vs_service,
    list_changes: usize,
}

impl<'a> Iterator for DestWalk<'a> {
    type Item = (DestCursor, &'a Dest);

    fn next(&mut self) -> Option<(DestCursor, &'a Dest)> {
        let dest = self.dests.next()?;
        let cursor = DestCursor {
            // `pos` is the node of `dest` (never null: the compiler knows, no test here).
            node: NonNull::new(self.dests.pos)?,
            svc: self.svc,
            list_changes: self.list_changes,
        };
        Some((cursor, dest))
    }
}

/// An IP address of a real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    /// IPv4, network byte order.
    V4([u8; 4]),
    /// IPv6, network byte order.
    V6([u8; 16]),
}

/// C's `atomic_read()`: a volatile load of the counter (`READ_ONCE()`), inline. A
/// `rust_helper_*` call would cost more than the load: the schedulers read three
/// counters of every real server on the packet path.
///
/// # Safety
///
/// `v` points to a live `atomic_t`.
unsafe fn atomic_read(v: *const bindings::atomic_t) -> i32 {
    // SAFETY: as per the function's safety requirements; `counter` is an aligned `int` that
    // other CPUs change only with atomic operations.
    unsafe { core::ptr::read_volatile(addr_of!((*v).counter)) }
}

/// A real server (`struct ip_vs_dest`), seen from inside a scheduler callback.
#[repr(transparent)]
pub struct Dest(Opaque<bindings::ip_vs_dest>);

impl Dest {
    /// # Safety
    ///
    /// `ptr` points to a destination that stays valid for the returned lifetime.
    unsafe fn from_raw<'a>(ptr: *mut bindings::ip_vs_dest) -> &'a Self {
        // SAFETY: `Dest` is a transparent wrapper of the C struct; validity as per the
        // function's safety requirements.
        unsafe { &*ptr.cast::<Self>() }
    }

    fn as_ptr(&self) -> *mut bindings::ip_vs_dest {
        self.0.get()
    }

    /// The server's weight; 0 means quiesced.
    pub fn weight(&self) -> i32 {
        // SAFETY: `weight` is an `atomic_t` inside a valid destination.
        unsafe { atomic_read(addr_of!((*self.as_ptr()).weight)) }
    }

    /// Status flags (`IP_VS_DEST_F_*`), changed concurrently by the connection code.
    pub fn flags(&self) -> u32 {
        // SAFETY: `flags` is a `volatile unsigned int` inside a valid destination.
        unsafe { core::ptr::read_volatile(addr_of!((*self.as_ptr()).flags)) }
    }

    /// True when the server reached its upper connection threshold.
    pub fn is_overloaded(&self) -> bool {
        self.flags() & bindings::IP_VS_DEST_F_OVERLOAD != 0
    }

    /// True while the server is part of its service (false once it was deleted and waits in
    /// the trash for its last connections).
    pub fn is_available(&self) -> bool {
        // SAFETY: `cflags` is a word inside a valid destination, changed only under IPVS's
        // configuration mutex; C reads it without a lock too.
        let cflags: usize =
            unsafe { core::ptr::read_volatile(addr_of!((*self.as_ptr()).cflags)) } as usize;
        cflags & bindings::IP_VS_DEST_CF_AVAILABLE as usize != 0
    }

    /// Connections in the established state.
    pub fn activeconns(&self) -> i32 {
        // SAFETY: `activeconns` is an `atomic_t` inside a valid destination.
        unsafe { atomic_read(addr_of!((*self.as_ptr()).activeconns)) }
    }

    /// All connections currently assigned to the server.
    pub fn totalconns(&self) -> i32 {
        // SAFETY: `totalconns` is an `atomic_t` inside a valid destination.
        unsafe { atomic_read(addr_of!((*self.as_ptr()).totalconns)) }
    }

    /// The server's address.
    pub fn addr(&self) -> Addr {
        let dest = self.as_ptr();
        // SAFETY: `af` and `addr` are set when the destination is created and never change;
        // the union holds an IPv6 address in `in6` and an IPv4 one in `ip` (first word).
        unsafe {
            if (*dest).af == bindings::AF_INET6 as u16 {
                Addr::V6((*dest).addr.in6.in6_u.u6_addr8)
            } else {
                Addr::V4((*dest).addr.ip.to_ne_bytes())
            }
        }
    }

    /// The server's port, host byte order.
    pub fn port(&self) -> u16 {
        // SAFETY: `port` is set when the destination is created and never changes.
        u16::from_be(unsafe { (*self.as_ptr()).port })
    }
}

/// Per-service scheduler state that the packet path changes (e.g. wrr's position), protected
/// by the service's `sched_lock` taken with `spin_lock_bh`, as the C schedulers do: the packet
/// path runs in softirq context and the configuration callbacks in process context.
///
/// # Invariants
///
/// `lock` is the `sched_lock` of the service this state belongs to; the state is reachable only
/// from that service's callbacks, while the service is alive.
pub struct SchedLocked<T> {
    lock: *mut bindings::spinlock_t,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only accessed with the service's spinlock held.
unsafe impl<T: Send> Send for SchedLocked<T> {}
// SAFETY: as above: `lock()` serialises every access.
unsafe impl<T: Send> Sync for SchedLocked<T> {}

impl<T> SchedLocked<T> {
    /// State for `svc`, to be returned from [`Scheduler::init_service`] of that service.
    pub fn new(svc: &Service, data: T) -> Self {
        // SAFETY: `sched_lock` is initialised when the service is created and lives as long
        // as the service.
        let lock = unsafe { core::ptr::addr_of_mut!((*svc.as_ptr()).sched_lock) };
        Self {
            lock,
            data: UnsafeCell::new(data),
        }
    }

    /// Takes the service's `sched_lock` (bottom halves disabled) until the guard is dropped.
    pub fn lock(&self) -> SchedGuard<'_, T> {
        // SAFETY: by the type invariant the lock belongs to a live service.
        unsafe { bindings::spin_lock_bh(self.lock) };
        SchedGuard {
            locked: self,
            bh: true,
        }
    }

    /// Takes the service's `sched_lock` from the timer callback, where bottom halves are off
    /// already: a plain `spin_lock()`, once per bucket of a garbage-collection pass.
    pub fn lock_in_timer(&self, _timer: &TimerContext) -> SchedGuard<'_, T> {
        // SAFETY: by the type invariant the lock belongs to a live service; the timer
        // callback runs in softirq context, so the packet path cannot interrupt the holder
        // on this CPU.
        unsafe { bindings::spin_lock(self.lock) };
        SchedGuard {
            locked: self,
            bh: false,
        }
    }
}

/// Access to [`SchedLocked`] data; releases `sched_lock` when dropped.
pub struct SchedGuard<'a, T> {
    locked: &'a SchedLocked<T>,
    /// Taken with `spin_lock_bh` ([`SchedLocked::lock`]), not `spin_lock`.
    bh: bool,
}

impl<T> Deref for SchedGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other reference to the data is live.
        unsafe { &*self.locked.data.get() }
    }
}

impl<T> DerefMut for SchedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, so no other reference to the data is live.
        unsafe { &mut *self.locked.data.get() }
    }
}

impl<T> Drop for SchedGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: taken in `SchedLocked::lock` or `lock_in_timer` (as `bh` says), released
        // exactly once here.
        unsafe {
            if self.bh {
                bindings::spin_unlock_bh(self.locked.lock)
            } else {
                bindings::spin_unlock(self.locked.lock)
            }
        };
    }
}

/// Per-service state as stored in `svc->sched_data`: the scheduler's data, the service's
/// periodic timer (when [`Scheduler::PERIOD`] asks for one) and the RCU head used to free it
/// all after a grace period. Boxed, so the timer never moves.
struct ServiceState<T> {
    rcu: Opaque<bindings::callback_head>,
    timer: Opaque<bindings::timer_list>,
    svc: *mut bindings::ip_vs_service,
    /// Changes of the service's list of real servers: counted before the scheduler's
    /// destination callback runs (IPVS links or unlinks the server before calling it), read
    /// at the start of `schedule` ([`Packet`]); see [`Service::destinations_after`].
    list_changes: AtomicUsize,
    data: T,
}

/// The lockdep class of the periodic timers of this module's services (`timer_setup()`
/// gives each call site a static key; lockdep requires static storage).
struct TimerLockClass(Opaque<bindings::lock_class_key>);
// SAFETY: lockdep synchronises its use of the key itself.
unsafe impl Sync for TimerLockClass {}
static TIMER_LOCK_CLASS: TimerLockClass = TimerLockClass(Opaque::uninit());

/// # Safety
///
/// `svc` is a service bound to scheduler `T` (its `sched_data` was set by
/// [`init_service_cb`] and not yet released).
unsafe fn service_state<'a, T: Scheduler>(
    svc: *mut bindings::ip_vs_service,
) -> &'a ServiceState<T::ServiceData> {
    // SAFETY: as per the function's safety requirements `sched_data` points to a live
    // `ServiceState<T::ServiceData>`.
    unsafe { &*(*svc).sched_data.cast::<ServiceState<T::ServiceData>>() }
}

unsafe extern "C" fn init_service_cb<T: Scheduler>(svc: *mut bindings::ip_vs_service) -> i32 {
    from_result(|| {
        // SAFETY: IPVS passes a valid service, used only during this call.
        let service = unsafe { Service::from_raw(svc) };
        let data = T::init_service(service)?;
        let state = KBox::into_raw(KBox::new(
            ServiceState {
                rcu: Opaque::uninit(),
                timer: Opaque::uninit(),
                svc,
                list_changes: AtomicUsize::new(0),
                data,
            },
            GFP_KERNEL,
        )?);
        if let Some(period) = T::PERIOD {
            // SAFETY: the timer lives in our fresh heap allocation, which stays put until
            // `done_service_cb` has shut the timer down; the key is static.
            unsafe {
                let timer = (*state).timer.get();
                bindings::init_timer_key(
                    timer,
                    Some(periodic_cb::<T>),
                    0,
                    kernel::c_str!("ipvs_sched_periodic").as_char_ptr(),
                    TIMER_LOCK_CLASS.0.get(),
                );
                bindings::mod_timer(timer, jiffies().wrapping_add(period));
            }
        }
        // SAFETY: the service is valid and IPVS's mutex serialises its configuration; the
        // packet path reads `sched_data` only after IPVS publishes the scheduler.
        unsafe { (*svc).sched_data = state.cast() };
        Ok(0)
    })
}

unsafe extern "C" fn periodic_cb<T: Scheduler>(timer: *mut bindings::timer_list) {
    // SAFETY: the timer is the `timer` field of a `ServiceState<T::ServiceData>` (only
    // `init_service_cb` sets this callback), alive until `done_service_cb` has shut the timer
    // down synchronously, which waits for this callback.
    let state = unsafe { &*kernel::container_of!(timer, ServiceState<T::ServiceData>, timer) };
    // The callback may walk the service's real servers ([`Destinations`]), which needs the
    // RCU read lock when IPVS's configuration mutex is not held: take it explicitly rather
    // than rely on softirq context holding off grace periods.
    // SAFETY: paired with the unlock below, in the same context.
    unsafe { bindings::rcu_read_lock() };
    // SAFETY: the service outlives its scheduler state (see above).
    T::periodic(
        unsafe { Service::from_raw(state.svc) },
        &state.data,
        &TimerContext { _private: () },
    );
    // SAFETY: taken above.
    unsafe { bindings::rcu_read_unlock() };
    if let Some(period) = T::PERIOD {
        // SAFETY: re-arming from the callback is allowed; after `timer_shutdown_sync` the
        // call is a no-op, so this cannot revive a timer being torn down.
        unsafe { bindings::mod_timer(timer, jiffies().wrapping_add(period)) };
    }
}

unsafe extern "C" fn free_state_rcu<T: Scheduler>(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the `rcu` field of a `ServiceState` queued by `done_service_cb`.
    let state = unsafe { kernel::container_of!(head, ServiceState<T::ServiceData>, rcu) };
    // SAFETY: the state came from `KBox::into_raw` and a grace period has passed, so no
    // reader remains.
    drop(unsafe { KBox::from_raw(state.cast_mut()) });
}

unsafe extern "C" fn done_service_cb<T: Scheduler>(svc: *mut bindings::ip_vs_service) {
    // SAFETY: IPVS passes a valid service bound to `T`, used only during this call;
    // `sched_data` is the `ServiceState` that `init_service_cb` stored.
    let (service, state) = unsafe { (Service::from_raw(svc), service_state::<T>(svc)) };
    if T::PERIOD.is_some() {
        // SAFETY: the timer was initialised in `init_service_cb`; this waits for a running
        // callback and makes later `mod_timer` calls no-ops.
        unsafe { bindings::timer_shutdown_sync(state.timer.get()) };
    }
    // Deleting a service unlinks its real servers without the destination callbacks, and
    // `ipvsadm -a` may at once re-link one from IPVS's trash into a re-created service of the
    // same address (no grace period in between). A packet still in `schedule` (it loaded
    // this scheduler before the unbind) must then not follow a cursor to such a server: its
    // walk would continue in the other service's list and never meet this one's head. Count
    // the unbind as a change of the list, so that such a packet walks from the head.
    state.list_changes.fetch_add(1, Ordering::AcqRel);
    T::done_service(service, &state.data);
    // SAFETY: IPVS unbinds a scheduler (clears `svc->scheduler`, then calls us) without
    // waiting for the packets already inside `schedule_cb`: they read `sched_data` after this
    // returns, until their RCU read-side sections end. So `sched_data` keeps pointing to the
    // state, which `call_rcu` frees only after a grace period, as C schedulers use
    // `kfree_rcu` and never clear the pointer. IPVS waits for a grace period
    // (`synchronize_rcu()`) before it binds another scheduler, whose `init_service` then
    // replaces the pointer: no reader of this scheduler sees that scheduler's state.
    unsafe { bindings::call_rcu(state.rcu.get(), Some(free_state_rcu::<T>)) };
}

/// Runs one of the destination callbacks of `T`.
///
/// # Safety
///
/// `svc` is a service bound to `T` and `dest` one of its destinations, both as IPVS passes
/// them to a destination callback.
unsafe fn dest_callback<T: Scheduler>(
    svc: *mut bindings::ip_vs_service,
    dest: *mut bindings::ip_vs_dest,
    f: fn(&Service, &T::ServiceData, &Dest) -> Result,
) -> i32 {
    // SAFETY: as per the function's safety requirements `sched_data` is our live state.
    let state = unsafe { service_state::<T>(svc) };
    // Before the callback: from now on no cursor taken before the change is followed.
    state.list_changes.fetch_add(1, Ordering::AcqRel);
    // SAFETY: as per the function's safety requirements.
    let (service, dest) = unsafe { (Service::from_raw(svc), Dest::from_raw(dest)) };
    from_result(|| f(service, &state.data, dest).map(|()| 0))
}

unsafe extern "C" fn add_dest_cb<T: Scheduler>(
    svc: *mut bindings::ip_vs_service,
    dest: *mut bindings::ip_vs_dest,
) -> i32 {
    // SAFETY: IPVS calls `add_dest` with a bound service and its new destination.
    unsafe { dest_callback::<T>(svc, dest, T::add_dest) }
}

unsafe extern "C" fn del_dest_cb<T: Scheduler>(
    svc: *mut bindings::ip_vs_service,
    dest: *mut bindings::ip_vs_dest,
) -> i32 {
    // SAFETY: IPVS calls `del_dest` with a bound service and the destination it unlinked,
    // which is freed only after a grace period.
    unsafe { dest_callback::<T>(svc, dest, T::del_dest) }
}

unsafe extern "C" fn upd_dest_cb<T: Scheduler>(
    svc: *mut bindings::ip_vs_service,
    dest: *mut bindings::ip_vs_dest,
) -> i32 {
    // SAFETY: IPVS calls `upd_dest` with a bound service and one of its destinations.
    unsafe { dest_callback::<T>(svc, dest, T::upd_dest) }
}

unsafe extern "C" fn schedule_cb<T: Scheduler>(
    svc: *mut bindings::ip_vs_service,
    _skb: *const bindings::sk_buff,
    iph: *mut bindings::ip_vs_iphdr,
) -> *mut bindings::ip_vs_dest {
    // SAFETY: IPVS calls `schedule` under the RCU read lock with a service bound to `T`; the
    // service, its data and its destinations stay valid until the lock is dropped.
    let (service, state) = unsafe { (Service::from_raw(svc), service_state::<T>(svc)) };
    // SAFETY: `iph` is the parsed header of the packet being scheduled; the union holds an
    // address of the service's family (IPVS only matches packets of that family).
    let daddr = unsafe {
        if service.is_ipv6() {
            Addr::V6((*iph).daddr.in6.in6_u.u6_addr8)
        } else {
            Addr::V4((*iph).daddr.ip.to_ne_bytes())
        }
    };
    let pkt = Packet {
        daddr,
        svc: svc.cast_const(),
        list_changes: &state.list_changes,
        list_changes_seen: Cell::new(None),
    };
    match T::schedule(service, &state.data, &pkt) {
        Some(dest) => dest.as_ptr(),
        None => core::ptr::null_mut(),
    }
}

/// A scheduler registered with IPVS; unregistered when dropped.
///
/// # Invariants
///
/// `table` is registered with IPVS for the lifetime of the value and never moves.
pub struct Registration<T: Scheduler> {
    table: Pin<KBox<Opaque<bindings::ip_vs_scheduler>>>,
    _scheduler: PhantomData<T>,
}

// SAFETY: the only thing done with a `Registration` is dropping it, and
// `unregister_ip_vs_scheduler` may be called from any process context.
unsafe impl<T: Scheduler> Send for Registration<T> {}
// SAFETY: a shared `Registration` exposes nothing.
unsafe impl<T: Scheduler> Sync for Registration<T> {}

impl<T: Scheduler> Registration<T> {
    /// Registers `T` under [`Scheduler::NAME`]. IPVS takes a reference on `module` for each
    /// service using the scheduler, so the module cannot be unloaded while it is in use.
    pub fn new(module: &'static ThisModule) -> Result<Self> {
        let table = KBox::pin(Opaque::<bindings::ip_vs_scheduler>::uninit(), GFP_KERNEL)?;
        let t = table.get();
        // SAFETY: `t` points to our own fresh allocation; writing a whole value initialises
        // it, then `n_list` is made an empty list head as `LIST_HEAD_INIT` does (IPVS checks
        // it is empty before linking it).
        unsafe {
            t.write(bindings::ip_vs_scheduler {
                n_list: bindings::list_head {
                    next: core::ptr::null_mut(),
                    prev: core::ptr::null_mut(),
                },
                name: T::NAME.as_char_ptr().cast_mut(),
                refcnt: bindings::atomic_t { counter: 0 },
                module: module.as_ptr(),
                init_service: Some(init_service_cb::<T>),
                done_service: Some(done_service_cb::<T>),
                add_dest: Some(add_dest_cb::<T>),
                del_dest: Some(del_dest_cb::<T>),
                upd_dest: Some(upd_dest_cb::<T>),
                schedule: Some(schedule_cb::<T>),
            });
            let list = core::ptr::addr_of_mut!((*t).n_list);
            (*list).next = list;
            (*list).prev = list;
        }
        // SAFETY: the table is fully initialised and pinned in memory until `drop`.
        to_result(unsafe { bindings::register_ip_vs_scheduler(t) })?;
        Ok(Self {
            table,
            _scheduler: PhantomData,
        })
    }
}

impl<T: Scheduler> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: the table is registered (type invariant). After unregistering, wait for
        // readers that may still run our `schedule` and for the per-service states queued
        // with `call_rcu`, so no callback into this module remains once it is unloaded.
        unsafe {
            bindings::unregister_ip_vs_scheduler(self.table.get());
            bindings::synchronize_rcu();
            bindings::rcu_barrier();
        }
    }
}

/// A counted reference to a real server (C's `ip_vs_dest_hold()` / `ip_vs_dest_put_and_free()`):
/// a scheduler that remembers a server beyond one callback (lblc's table entries) keeps one, so
/// that a server deleted from the service stays allocated, in the trash, while referenced.
///
/// # Invariants
///
/// `dest` points to a destination on which this value owns one reference.
pub struct DestRef {
    dest: NonNull<bindings::ip_vs_dest>,
}

// SAFETY: the reference count is atomic and a destination may be used from any CPU.
unsafe impl Send for DestRef {}
// SAFETY: a shared `DestRef` only gives `&Dest`, whose accessors are all thread-safe.
unsafe impl Sync for DestRef {}

impl DestRef {
    /// Takes a reference on `dest`.
    pub fn new(dest: &Dest) -> Self {
        // SAFETY: `dest` is valid for the call; `refcnt` counts the references to it.
        unsafe { bindings::refcount_inc(addr_of_mut!((*dest.as_ptr()).refcnt)) };
        // INVARIANT: we took one reference just above.
        Self {
            // SAFETY: the pointer comes from a reference, so it is not null.
            dest: unsafe { NonNull::new_unchecked(dest.as_ptr()) },
        }
    }
}

impl Deref for DestRef {
    type Target = Dest;
    fn deref(&self) -> &Dest {
        // SAFETY: our reference keeps the destination allocated (type invariant).
        unsafe { Dest::from_raw(self.dest.as_ptr()) }
    }
}

impl Drop for DestRef {
    fn drop(&mut self) {
        let dest = self.dest.as_ptr();
        // SAFETY: we own one reference (type invariant); when it is the last one the
        // destination was already removed from the service and IPVS left freeing it to the
        // last holder, as `ip_vs_dest_put_and_free()` does.
        unsafe {
            if bindings::refcount_dec_and_test(addr_of_mut!((*dest).refcnt)) {
                bindings::kfree(dest.cast());
            }
        }
    }
}

/// Proof that RCU-protected data cannot be freed under the holder: the RCU read-side section
/// of the packet being scheduled ([`Packet`]), which covers every list, or a service's
/// `sched_lock` ([`SchedGuard`]), which covers the lists whose writers take that lock.
///
/// Sealed: only the glue's proofs implement it, since [`RcuList::iter`] trusts them.
pub trait ReadSide: read_side::Sealed {}
impl ReadSide for Packet {}
impl<T> ReadSide for SchedGuard<'_, T> {}

mod read_side {
    use super::{bindings, Packet, SchedGuard};

    /// The private half of [`super::ReadSide`].
    pub trait Sealed {
        /// Whether the proof keeps the entries of a list written under `lock` alive.
        fn covers(&self, lock: *const bindings::spinlock_t) -> bool;
    }

    impl Sealed for Packet {
        fn covers(&self, _lock: *const bindings::spinlock_t) -> bool {
            true
        }
    }

    impl<T> Sealed for SchedGuard<'_, T> {
        fn covers(&self, lock: *const bindings::spinlock_t) -> bool {
            core::ptr::eq(self.locked.lock, lock)
        }
    }
}

/// A singly linked list read under RCU and written under the service's `sched_lock`: what
/// C's schedulers build from `hlist_head`/`list_head` with the `_rcu` list primitives.
/// Readers walk it with [`RcuList::iter`] while writers add and remove entries; a removed
/// entry is dropped one grace period later (`call_rcu`), so a reader that reached it can
/// still use it until its read-side section ends.
///
/// Each list is bound to the `sched_lock` of the service it was made for: its writers and its
/// readers that hold no RCU read lock must hold that lock, which is checked as
/// `kernel::sync::LockedBy` checks its owner (a mismatch is a bug of the caller, and panics).
///
/// # Invariants
///
/// `head` and every node's `next` are null or point to a node made by [`RcuList::push_front`]
/// (a leaked `KBox`) that is reachable only from this list. Writers of one list are serialised
/// by `lock`, the `sched_lock` of one service.
pub struct RcuList<T> {
    head: AtomicPtr<RcuNode<T>>,
    lock: *const bindings::spinlock_t,
}

struct RcuNode<T> {
    next: AtomicPtr<RcuNode<T>>,
    rcu: Opaque<bindings::callback_head>,
    value: T,
}

// SAFETY: values are shared between CPUs (readers) and dropped on any CPU; `lock` is only
// compared, never dereferenced.
unsafe impl<T: Send + Sync> Send for RcuList<T> {}
// SAFETY: as above; writers are serialised by `sched_lock` (checked), readers only get `&T`.
unsafe impl<T: Send + Sync> Sync for RcuList<T> {}

impl<T> RcuList<T> {
    /// An empty list of `svc`'s state, written under its `sched_lock`.
    pub fn new(svc: &Service) -> Self {
        Self {
            head: AtomicPtr::new(core::ptr::null_mut()),
            // SAFETY: `sched_lock` is initialised when the service is created; only its
            // address is kept, as the identity of the writers' lock.
            lock: unsafe { core::ptr::addr_of!((*svc.as_ptr()).sched_lock) },
        }
    }

    /// Panics unless `writer` holds this list's lock (as `LockedBy::access` does).
    fn check_writer<W>(&self, writer: &SchedGuard<'_, W>) {
        if !core::ptr::eq(writer.locked.lock, self.lock) {
            panic!("RcuList written under another service's sched_lock");
        }
    }

    /// The entries, newest first. `read_side` bounds how long they may be used; a lock as
    /// proof must be this list's.
    pub fn iter<'a, R: ReadSide>(&'a self, read_side: &'a R) -> RcuIter<'a, T> {
        // Constant true for the packet's proof: no test on the packet path.
        if !read_side::Sealed::covers(read_side, self.lock) {
            panic!("RcuList read under another service's sched_lock");
        }
        RcuIter {
            next: self.head.load(Ordering::Acquire),
            _list: PhantomData,
        }
    }

    /// Adds `value` at the front (`hlist_add_head_rcu()`); allocates atomically, as the
    /// packet path must. On failure the list is unchanged.
    pub fn push_front<W>(&self, writer: &SchedGuard<'_, W>, value: T) -> Result {
        self.check_writer(writer);
        let node = KBox::new(
            RcuNode {
                next: AtomicPtr::new(self.head.load(Ordering::Relaxed)),
                rcu: Opaque::uninit(),
                value,
            },
            GFP_ATOMIC,
        )?;
        // Release: a reader that sees the node sees it initialised (`rcu_assign_pointer`).
        self.head.store(KBox::into_raw(node), Ordering::Release);
        Ok(())
    }

    /// Unlinks every entry for which `keep` says false and drops it after a grace period
    /// (`hlist_del_rcu()` + `call_rcu()`). Returns how many were removed.
    pub fn retain<W>(
        &self,
        writer: &SchedGuard<'_, W>,
        mut keep: impl FnMut(&T) -> bool,
    ) -> usize {
        self.check_writer(writer);
        let mut removed = 0;
        let mut link = &self.head;
        loop {
            let node = link.load(Ordering::Relaxed);
            if node.is_null() {
                return removed;
            }
            // SAFETY: non-null links point to live nodes of this list (type invariant); the
            // writer holds the list's lock (checked above), which keeps other writers away,
            // so the node stays linked during the call.
            let node_ref = unsafe { &*node };
            if keep(&node_ref.value) {
                link = &node_ref.next;
                continue;
            }
            // Readers standing on the node still find its successor; new readers skip it.
            link.store(node_ref.next.load(Ordering::Relaxed), Ordering::Release);
            removed += 1;
            // SAFETY: the node is unlinked, so after a grace period no reader holds it; the
            // callback then frees it, once.
            unsafe { bindings::call_rcu(node_ref.rcu.get(), Some(free_rcu_node::<T>)) };
        }
    }

    /// Unlinks the first entry for which `matches` says true, as [`RcuList::retain`] does.
    /// Returns whether one was found.
    pub fn remove_first<W>(
        &self,
        writer: &SchedGuard<'_, W>,
        mut matches: impl FnMut(&T) -> bool,
    ) -> bool {
        let mut found = false;
        self.retain(writer, |value| {
            if !found && matches(value) {
                found = true;
                return false;
            }
            true
        }) > 0
    }
}

impl<T> Drop for RcuList<T> {
    fn drop(&mut self) {
        // Dropping the list means no reader can reach it any more: the glue drops scheduler
        // state one grace period after `done_service`, and list entries (which may own lists
        // themselves) one grace period after they were unlinked.
        let mut node = *self.head.get_mut();
        while !node.is_null() {
            // SAFETY: every node of the list is a leaked `KBox` owned by the list (type
            // invariant) and unreachable by readers (see above).
            let boxed = unsafe { KBox::from_raw(node) };
            node = boxed.next.load(Ordering::Relaxed);
        }
    }
}

unsafe extern "C" fn free_rcu_node<T>(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the `rcu` field of a node unlinked by `RcuList::retain`.
    let node = unsafe { kernel::container_of!(head, RcuNode<T>, rcu) };
    // SAFETY: the node came from `KBox::into_raw`, and a grace period has passed since it was
    // unlinked, so no reader holds it.
    drop(unsafe { KBox::from_raw(node.cast_mut()) });
}

/// Iterator over an [`RcuList`] (`hlist_for_each_entry_rcu`).
pub struct RcuIter<'a, T> {
    next: *mut RcuNode<T>,
    _list: PhantomData<&'a T>,
}

impl<T> Clone for RcuIter<'_, T> {
    fn clone(&self) -> Self {
        Self {
            next: self.next,
            _list: PhantomData,
        }
    }
}

impl<'a, T> Iterator for RcuIter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: the node was linked when we loaded its address, and the read-side proof the
        // iterator borrows keeps it from being freed for `'a`.
        let node = unsafe { &*self.next };
        self.next = node.next.load(Ordering::Acquire);
        Some(&node.value)
    }
}

/// An integer sysctl in `net/ipv4/vs/` of every network namespace, in jiffies and shown in
/// seconds (`proc_dointvec_jiffies`), as C's `lblc_expiration` and `lblcr_expiration`. Kept
/// in per-namespace storage of our own (`net_generic`), not in `struct netns_ipvs`, so that
/// the C module of the same name, if someone tries to load it beside ours, cannot overwrite
/// our state before its registration fails.
///
/// A module declares one as a `static`, names it through [`NetSysctlDef`] and keeps the
/// [`NetSysctlRegistration`] while loaded. It must register the sysctl before its scheduler
/// (and drop it after), since [`NetSysctl::get`] reads the storage the registration creates.
pub struct NetSysctl {
    name: &'static CStr,
    default: i32,
    ops: Opaque<bindings::pernet_operations>,
    id: UnsafeCell<c_uint>,
}

// SAFETY: `ops` and `id` are written once, in `register`, before the kernel or any reader
// sees them; afterwards only the kernel's pernet code uses them, under its own lock.
unsafe impl Sync for NetSysctl {}

/// Names a module's `static` [`NetSysctl`] (the pernet callbacks receive only the namespace).
pub trait NetSysctlDef: 'static {
    /// The module's sysctl.
    fn sysctl() -> &'static NetSysctl;
}

/// The per-namespace storage: the value, its table and the registration of that table.
#[repr(C)]
struct NetSysctlValue {
    value: c_int,
    header: *mut bindings::ctl_table_header,
    table: [bindings::ctl_table; 1],
}

/// C's `net_generic()`: our storage in namespace `net`.
///
/// # Safety
///
/// `net` is a live namespace and `id` the id of pernet operations with storage registered
/// for it.
unsafe fn net_generic(net: *mut bindings::net, id: c_uint) -> *mut NetSysctlValue {
    // SAFETY: as per the function's safety requirements; the RCU read lock covers the read
    // of `net->gen`.
    unsafe {
        bindings::rcu_read_lock();
        let value = net_generic_rcu(net, id);
        bindings::rcu_read_unlock();
        value
    }
}

/// [`net_generic`] for a caller already inside an RCU read-side section.
///
/// # Safety
///
/// As for [`net_generic`], and the caller holds the RCU read lock.
unsafe fn net_generic_rcu(net: *mut bindings::net, id: c_uint) -> *mut NetSysctlValue {
    // SAFETY: `net->gen` is an RCU-protected array holding the storage of every registered
    // id; the caller's read-side section keeps the array, and the namespace keeps the
    // storage itself.
    unsafe {
        let generic = core::ptr::read_volatile(addr_of!((*net).gen));
        let ptrs = (*generic)
            .__bindgen_anon_1
            .__bindgen_anon_1
            .as_ref()
            .ptr
            .as_ptr();
        (*ptrs.add(id as usize)).cast()
    }
}

unsafe extern "C" fn net_sysctl_init<D: NetSysctlDef>(net: *mut bindings::net) -> c_int {
    let sysctl = D::sysctl();
    // SAFETY: the kernel calls `init` for a live namespace after allocating our zeroed
    // storage; `id` was assigned by `register_pernet_subsys`. The table points to the value in
    // the same storage, which outlives the registration (removed in `net_sysctl_exit`).
    unsafe {
        let v = net_generic(net, *sysctl.id.get());
        (*v).value = sysctl.default;
        (*v).table[0] = bindings::ctl_table {
            procname: sysctl.name.as_char_ptr(),
            data: addr_of_mut!((*v).value).cast(),
            maxlen: core::mem::size_of::<c_int>() as c_int,
            mode: 0o644,
            proc_handler: Some(bindings::proc_dointvec_jiffies),
            ..Default::default()
        };
        // Like C: namespaces of other user namespaces get the directory but not the entry.
        let entries = if (*net).user_ns == addr_of_mut!(bindings::init_user_ns) {
            1
        } else {
            0
        };
        (*v).header = bindings::register_net_sysctl_sz(
            net,
            kernel::c_str!("net/ipv4/vs").as_char_ptr(),
            (*v).table.as_mut_ptr(),
            entries,
        );
        if (*v).header.is_null() {
            return ENOMEM.to_errno();
        }
    }
    0
}

unsafe extern "C" fn net_sysctl_exit<D: NetSysctlDef>(net: *mut bindings::net) {
    // SAFETY: `init` succeeded for this namespace, so `header` is our registration.
    unsafe {
        let v = net_generic(net, *D::sysctl().id.get());
        bindings::unregister_net_sysctl_table((*v).header);
    }
}

impl NetSysctl {
    /// A sysctl `net.ipv4.vs.<name>` whose value starts at `default` jiffies.
    pub const fn new(name: &'static CStr, default: i32) -> Self {
        Self {
            name,
            default,
            ops: Opaque::uninit(),
            id: UnsafeCell::new(0),
        }
    }

    /// Creates the sysctl in every namespace, present and future.
    pub fn register<D: NetSysctlDef>() -> Result<NetSysctlRegistration> {
        let sysctl = D::sysctl();
        let ops = sysctl.ops.get();
        // SAFETY: called once from module init, before the kernel knows `ops`; the static
        // outlives the registration, which `NetSysctlRegistration` removes on drop.
        unsafe {
            ops.write(bindings::pernet_operations {
                init: Some(net_sysctl_init::<D>),
                exit: Some(net_sysctl_exit::<D>),
                id: sysctl.id.get(),
                size: core::mem::size_of::<NetSysctlValue>(),
                ..Default::default()
            });
            to_result(bindings::register_pernet_subsys(ops))?;
        }
        Ok(NetSysctlRegistration { ops })
    }

    /// The value in the namespace of `svc`.
    pub fn get(&self, svc: &Service) -> i32 {
        // SAFETY: a service's namespace is alive, and it has our storage: a module registers
        // its sysctl before its scheduler, so before any service can call this.
        unsafe {
            core::ptr::read_volatile(addr_of!((*net_generic(svc.net(), *self.id.get())).value))
        }
    }

    /// [`NetSysctl::get`] on the packet path: `pkt` proves the RCU read-side section that
    /// `net->gen` needs, so no lock is taken (C's lblcr reads a field of `netns_ipvs` there;
    /// an `rcu_read_lock()`/`rcu_read_unlock()` pair per packet, with lockdep's bookkeeping on
    /// a debug kernel, cost more than the whole C schedule).
    pub fn get_in(&self, svc: &Service, _pkt: &Packet) -> i32 {
        // SAFETY: as in `get`; `net->gen` is RCU-protected and the caller is inside the RCU
        // read-side section of the packet being scheduled, which `pkt` borrows from.
        unsafe {
            core::ptr::read_volatile(addr_of!(
                (*net_generic_rcu(svc.net(), *self.id.get())).value
            ))
        }
    }
}

/// Declares `$name`, a unit struct naming a `static` [`NetSysctl`] `net.ipv4.vs.$procname`
/// with the default `$default` jiffies: `net_sysctl!(Expiration, "lblc_expiration", ...)`,
/// then `NetSysctl::register::<Expiration>()` and `Expiration::sysctl().get(svc)`.
/// (Unused by the modules without a sysctl, like the rest of this file's API.)
#[allow(unused_macros)]
macro_rules! net_sysctl {
    ($name:ident, $procname:literal, $default:expr) => {
        struct $name;

        impl $crate::ipvs::NetSysctlDef for $name {
            fn sysctl() -> &'static $crate::ipvs::NetSysctl {
                static SYSCTL: $crate::ipvs::NetSysctl =
                    $crate::ipvs::NetSysctl::new(kernel::c_str!($procname), $default);
                &SYSCTL
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use net_sysctl;

/// A registered [`NetSysctl`]; removed from every namespace when dropped.
pub struct NetSysctlRegistration {
    ops: *mut bindings::pernet_operations,
}

// SAFETY: only dropped, from module exit.
unsafe impl Send for NetSysctlRegistration {}
// SAFETY: a shared registration exposes nothing.
unsafe impl Sync for NetSysctlRegistration {}

impl Drop for NetSysctlRegistration {
    fn drop(&mut self) {
        // SAFETY: `ops` was registered by `NetSysctl::register`.
        unsafe { bindings::unregister_pernet_subsys(self.ops) };
    }
}
