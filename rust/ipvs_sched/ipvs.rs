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
    cell::UnsafeCell,
    marker::PhantomData,
    ops::{Deref, DerefMut},
    pin::Pin,
    ptr::addr_of,
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

    /// Chooses the real server for a new connection, or `None` to refuse it (call
    /// [`Service::scheduler_err`] to say why, as the C schedulers do).
    fn schedule<'a>(svc: &'a Service, data: &Self::ServiceData) -> Option<&'a Dest>;
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
        // SAFETY: `pos` is the list head or a node reached from it; the caller of the
        // callback holds the RCU read lock or the configuration mutex, so nodes stay valid.
        let next = unsafe { bindings::list_next_rcu(self.pos) };
        if next == self.head {
            return None;
        }
        self.pos = next;
        // SAFETY: every node of `svc->destinations` is the `n_list` member of an `ip_vs_dest`.
        let dest = unsafe { kernel::container_of!(next, bindings::ip_vs_dest, n_list) };
        // SAFETY: the destination stays valid while the list walk is protected (see above).
        Some(unsafe { Dest::from_raw(dest.cast_mut()) })
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
        unsafe { bindings::atomic_read(addr_of!((*self.as_ptr()).weight)) }
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
        let cflags: usize = unsafe { core::ptr::read_volatile(addr_of!((*self.as_ptr()).cflags)) } as usize;
        cflags & bindings::IP_VS_DEST_CF_AVAILABLE as usize != 0
    }

    /// Connections in the established state.
    pub fn activeconns(&self) -> i32 {
        // SAFETY: `activeconns` is an `atomic_t` inside a valid destination.
        unsafe { bindings::atomic_read(addr_of!((*self.as_ptr()).activeconns)) }
    }

    /// All connections currently assigned to the server.
    pub fn totalconns(&self) -> i32 {
        // SAFETY: `totalconns` is an `atomic_t` inside a valid destination.
        unsafe { bindings::atomic_read(addr_of!((*self.as_ptr()).totalconns)) }
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
        SchedGuard { locked: self }
    }
}

/// Access to [`SchedLocked`] data; releases `sched_lock` when dropped.
pub struct SchedGuard<'a, T> {
    locked: &'a SchedLocked<T>,
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
        // SAFETY: taken in `SchedLocked::lock`, released exactly once here.
        unsafe { bindings::spin_unlock_bh(self.locked.lock) };
    }
}

/// Per-service state as stored in `svc->sched_data`: the scheduler's data and the RCU head
/// used to free it after a grace period.
struct ServiceState<T> {
    rcu: Opaque<bindings::callback_head>,
    data: T,
}

/// # Safety
///
/// `svc` is a service bound to scheduler `T` (its `sched_data` was set by
/// [`init_service_cb`] and not yet released).
unsafe fn service_data<'a, T: Scheduler>(svc: *mut bindings::ip_vs_service) -> &'a T::ServiceData {
    // SAFETY: as per the function's safety requirements `sched_data` points to a live
    // `ServiceState<T::ServiceData>`.
    unsafe { &(*(*svc).sched_data.cast::<ServiceState<T::ServiceData>>()).data }
}

unsafe extern "C" fn init_service_cb<T: Scheduler>(svc: *mut bindings::ip_vs_service) -> i32 {
    from_result(|| {
        // SAFETY: IPVS passes a valid service, used only during this call.
        let service = unsafe { Service::from_raw(svc) };
        let data = T::init_service(service)?;
        let state = KBox::new(
            ServiceState {
                rcu: Opaque::uninit(),
                data,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: the service is valid and IPVS's mutex serialises its configuration; the
        // packet path reads `sched_data` only after IPVS publishes the scheduler.
        unsafe { (*svc).sched_data = KBox::into_raw(state).cast() };
        Ok(0)
    })
}

unsafe extern "C" fn free_state_rcu<T: Scheduler>(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the `rcu` field of a `ServiceState` queued by `done_service_cb`.
    let state = unsafe { kernel::container_of!(head, ServiceState<T::ServiceData>, rcu) };
    // SAFETY: the state came from `KBox::into_raw` and a grace period has passed, so no
    // reader remains.
    drop(unsafe { KBox::from_raw(state.cast_mut()) });
}

unsafe extern "C" fn done_service_cb<T: Scheduler>(svc: *mut bindings::ip_vs_service) {
    // SAFETY: IPVS passes a valid service bound to `T`, used only during this call.
    let (service, data) = unsafe { (Service::from_raw(svc), service_data::<T>(svc)) };
    T::done_service(service, data);
    // SAFETY: `sched_data` is our `ServiceState`; readers on the packet path may still hold
    // it, so it is freed by `call_rcu` after a grace period, as C schedulers use `kfree_rcu`.
    unsafe {
        let state = (*svc).sched_data.cast::<ServiceState<T::ServiceData>>();
        (*svc).sched_data = core::ptr::null_mut();
        bindings::call_rcu((*state).rcu.get(), Some(free_state_rcu::<T>));
    }
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
    // SAFETY: as per the function's safety requirements.
    let (service, data, dest) =
        unsafe { (Service::from_raw(svc), service_data::<T>(svc), Dest::from_raw(dest)) };
    from_result(|| f(service, data, dest).map(|()| 0))
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
    _iph: *mut bindings::ip_vs_iphdr,
) -> *mut bindings::ip_vs_dest {
    // SAFETY: IPVS calls `schedule` under the RCU read lock with a service bound to `T`; the
    // service, its data and its destinations stay valid until the lock is dropped.
    let (service, data) = unsafe { (Service::from_raw(svc), service_data::<T>(svc)) };
    match T::schedule(service, data) {
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
