// SPDX-License-Identifier: GPL-2.0
//! The scheduler abstraction: the [`Scheduler`] trait a module implements, the per-service
//! state IPVS keeps for it in `svc->sched_data`, the `extern "C"` trampolines in IPVS's
//! `ip_vs_scheduler` table, the [`Registration`] that links the table into IPVS, and
//! [`module_ipvs_scheduler!`](crate::glue::module_ipvs_scheduler), which declares a whole
//! scheduler module.

use core::{marker::PhantomData, pin::Pin};
use kernel::{
    bindings,
    error::{from_result, to_result},
    prelude::*,
    str::CStr,
    types::Opaque,
    ThisModule,
};

use super::{jiffies, place::Place, Dest, DestChange, Jiffies, Packet, PlaceGuard, Service};

/// An IPVS connection scheduler.
///
/// IPVS makes the per-service state ([`PerService::init`]) and calls `done_service` and the
/// destination callbacks in process context with its configuration mutex held, and `schedule`
/// on the packet path (softirq) inside an RCU read-side critical section. Only `schedule` is
/// required, as in C: a scheduler without per-service state says `type ServiceData = ();`.
pub trait Scheduler: 'static {
    /// The name users pass to `ipvsadm -s`.
    const NAME: &'static CStr;

    /// State kept per virtual service. Created when a service starts using the scheduler and
    /// dropped one RCU grace period after it stops, since the packet path may still read it
    /// until then. It is dropped from an RCU callback: its `Drop` must not sleep.
    type ServiceData: PerService;

    /// A service stops using this scheduler; `data` is dropped after the next grace period.
    fn done_service(_svc: &Service, _data: &Self::ServiceData) {}

    /// A real server was added to the service.
    fn add_dest(_svc: &Service, _data: &Self::ServiceData, _change: &DestChange<'_>) -> Result {
        Ok(())
    }

    /// A real server was removed from the service's list (it stays valid during the call).
    fn del_dest(_svc: &Service, _data: &Self::ServiceData, _change: &DestChange<'_>) -> Result {
        Ok(())
    }

    /// A real server's settings (weight, thresholds, forwarding method) changed.
    fn upd_dest(_svc: &Service, _data: &Self::ServiceData, _change: &DestChange<'_>) -> Result {
        Ok(())
    }

    /// Chooses the real server for a new connection, whose first packet is `pkt`, or `None`
    /// to refuse it (return [`Service::refuse`], which says why, as the C schedulers do).
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

/// A scheduler's state per virtual service ([`Scheduler::ServiceData`]).
pub trait PerService: Send + Sync + Sized {
    /// A service starts using the scheduler (C's `init_service`).
    fn init(svc: &Service) -> Result<Self>;
}

impl PerService for () {
    fn init(_svc: &Service) -> Result<()> {
        Ok(())
    }
}

/// Proof that the code runs in a service's periodic timer callback: softirq context, bottom
/// halves already off, so [`SchedLocked::lock_in_timer`] needs no `spin_lock_bh` (C's
/// garbage-collection timers take `sched_lock` with a plain `spin_lock()`). Only the glue's
/// timer callback makes one.
pub struct TimerContext {
    _private: (),
}

/// Per-service state as stored in `svc->sched_data`: the scheduler's data, the service's
/// place in its list (kept for the schedulers that continue where they stopped, see
/// [`PlaceGuard`]), its periodic timer (when [`Scheduler::PERIOD`] asks for one) and the RCU
/// head used to free it all after a grace period. Boxed, so the timer never moves.
struct ServiceState<T> {
    rcu: Opaque<bindings::callback_head>,
    timer: Opaque<bindings::timer_list>,
    svc: *mut bindings::ip_vs_service,
    place: Place,
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

/// Whether the glue keeps no state of its own for `T`'s services: `T` has no per-service data
/// (a type of size zero without drop glue) and no timer. Then `svc->sched_data` holds the
/// service's place itself, as C's rr keeps it, and `schedule` reads one word less.
const fn unboxed<T: Scheduler>() -> bool {
    core::mem::size_of::<T::ServiceData>() == 0
        && !core::mem::needs_drop::<T::ServiceData>()
        && T::PERIOD.is_none()
}

/// The per-service data of an [`unboxed`] scheduler `T`, and the service's place.
///
/// # Safety
///
/// `svc` is a service bound to `T`, which is [`unboxed`]; the references do not outlive the
/// callback of `svc` that asks for them.
unsafe fn unboxed_state<'a, T: Scheduler>(
    svc: *mut bindings::ip_vs_service,
) -> (&'a Place, &'a T::ServiceData) {
    assert!(unboxed::<T>());
    // SAFETY: a reference to a type of size zero is valid at any aligned non-null address,
    // and reads nothing; `init_service_cb` made the service's value and forgot it, so this
    // stands for it. `init_service_cb` stored the place in `sched_data` (safety requirements).
    unsafe {
        (
            Place::in_sched_data(svc),
            core::ptr::NonNull::<T::ServiceData>::dangling().as_ref(),
        )
    }
}

/// The place and the per-service data of a service bound to `T`, wherever the glue keeps them.
///
/// # Safety
///
/// `svc` is a service bound to `T` (its `init_service` callback succeeded and its
/// `done_service` callback has not been called, or was called within the caller's RCU
/// read-side section); the references do not outlive the caller's callback.
#[inline(always)]
unsafe fn state_of<'a, T: Scheduler>(
    svc: *mut bindings::ip_vs_service,
) -> (&'a Place, &'a T::ServiceData) {
    if unboxed::<T>() {
        // SAFETY: as per the function's safety requirements, `T` being unboxed.
        unsafe { unboxed_state::<T>(svc) }
    } else {
        // SAFETY: as per the function's safety requirements.
        let state = unsafe { service_state::<T>(svc) };
        (&state.place, &state.data)
    }
}

unsafe extern "C" fn init_service_cb<T: Scheduler>(svc: *mut bindings::ip_vs_service) -> i32 {
    from_result(|| {
        // SAFETY: IPVS passes a valid service, used only during this call.
        let service = unsafe { Service::from_raw(svc) };
        let data = T::ServiceData::init(service)?;
        if unboxed::<T>() {
            core::mem::forget(data);
            // SAFETY: the service is valid and IPVS's mutex serialises its configuration; the
            // packet path reads `sched_data` only after IPVS publishes the scheduler. A
            // `Place` is a word, as `sched_data` is.
            unsafe {
                core::ptr::addr_of_mut!((*svc).sched_data)
                    .cast::<Place>()
                    .write(Place::new(service))
            };
            return Ok(0);
        }
        let state = KBox::into_raw(KBox::new(
            ServiceState {
                rcu: Opaque::uninit(),
                timer: Opaque::uninit(),
                svc,
                place: Place::new(service),
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
    if unboxed::<T>() {
        // SAFETY: IPVS passes a valid service bound to `T`, used only during this call.
        let (service, (place, data)) = unsafe { (Service::from_raw(svc), unboxed_state::<T>(svc)) };
        // The place goes back to the head, where `PlaceGuard::set` leaves it from now on (see
        // below); `sched_data` is the next scheduler's once IPVS has waited for a grace period
        // and bound it.
        // SAFETY: the place is the service's, and this is its `done_service` callback, under
        // IPVS's configuration mutex; the guard is dropped at once.
        let mut guard = unsafe { PlaceGuard::lock(service, place, core::ptr::null()) };
        guard.stop();
        drop(guard);
        T::done_service(service, data);
        return;
    }
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
    // this scheduler before the unbind) must then not follow the place to such a server: its
    // walk would continue in the other service's list and never meet this one's head. The
    // place goes back to the head and stays there. (A walk from the head is exposed the same
    // way while it stands on a server that is unlinked and revived meanwhile: C's walks are
    // too, and no scheduler callback can see it happen.)
    // SAFETY: the place is the service's, and this is its `done_service` callback, under
    // IPVS's configuration mutex; the guard is dropped at once.
    let mut guard = unsafe { PlaceGuard::lock(service, &state.place, core::ptr::null()) };
    guard.stop();
    drop(guard);
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
    deleted: bool,
    f: fn(&Service, &T::ServiceData, &DestChange<'_>) -> Result,
) -> i32 {
    // SAFETY: as per the function's safety requirements `sched_data` is our live state (or
    // the place of an unboxed scheduler), and `svc` and `dest` are valid for the callback.
    let (service, dest, (place, data)) = unsafe {
        (
            Service::from_raw(svc),
            Dest::from_raw(dest),
            state_of::<T>(svc),
        )
    };
    // INVARIANT: IPVS calls the destination callbacks with its configuration mutex held,
    // after it changed the list; `place` is the service's, `data` its data's address.
    let change = DestChange {
        dest,
        deleted,
        svc: service,
        place,
        data: (data as *const T::ServiceData).cast(),
    };
    let ret = from_result(|| f(service, data, &change).map(|()| 0));
    if deleted {
        // The place moves off the deleted server here unless the scheduler's own callback
        // took the place's lock, which moves it under that lock (`DestChange::lock_place`):
        // C's wrr puts its place back at the head in the one locked section, so no packet
        // may see a step back in between. Before IPVS can free the server: a grace period
        // after this callback.
        drop(change.lock_place());
    }
    ret
}

unsafe extern "C" fn add_dest_cb<T: Scheduler>(
    svc: *mut bindings::ip_vs_service,
    dest: *mut bindings::ip_vs_dest,
) -> i32 {
    // SAFETY: IPVS calls `add_dest` with a bound service and its new destination.
    unsafe { dest_callback::<T>(svc, dest, false, T::add_dest) }
}

unsafe extern "C" fn del_dest_cb<T: Scheduler>(
    svc: *mut bindings::ip_vs_service,
    dest: *mut bindings::ip_vs_dest,
) -> i32 {
    // SAFETY: IPVS calls `del_dest` with a bound service and the destination it unlinked,
    // which is freed only after a grace period.
    unsafe { dest_callback::<T>(svc, dest, true, T::del_dest) }
}

unsafe extern "C" fn upd_dest_cb<T: Scheduler>(
    svc: *mut bindings::ip_vs_service,
    dest: *mut bindings::ip_vs_dest,
) -> i32 {
    // SAFETY: IPVS calls `upd_dest` with a bound service and one of its destinations.
    unsafe { dest_callback::<T>(svc, dest, false, T::upd_dest) }
}

unsafe extern "C" fn schedule_cb<T: Scheduler>(
    svc: *mut bindings::ip_vs_service,
    skb: *const bindings::sk_buff,
    iph: *mut bindings::ip_vs_iphdr,
) -> *mut bindings::ip_vs_dest {
    // SAFETY: IPVS calls `schedule` under the RCU read lock with a service bound to `T`; the
    // service, its data and its destinations stay valid until the lock is dropped.
    let (service, (place, data)) = unsafe { (Service::from_raw(svc), state_of::<T>(svc)) };
    let pkt = Packet {
        skb,
        iph: iph.cast_const(),
        v6: service.is_ipv6(),
        svc,
        place,
        data: (data as *const T::ServiceData).cast(),
    };
    match T::schedule(service, data, &pkt) {
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

/// Declares a kernel module that registers the scheduler `type` (a [`Scheduler`]) with IPVS
/// while it is loaded, as `module_phy_driver!` does for PHY drivers. With `sysctl:` (a
/// [`net_sysctl!`](crate::net_sysctl) name), the module also creates that sysctl first and
/// removes it last, since the scheduler's services read it.
///
/// ```ignore
/// module_ipvs_scheduler! {
///     type: Wlc,
///     name: "ip_vs_wlc_rs",
///     author: "...",
///     description: "ipvs weighted least connection scheduler (Rust)",
///     license: "GPL",
/// }
/// ```
#[macro_export]
macro_rules! module_ipvs_scheduler {
    (
        type: $scheduler:ident,
        $(sysctl: $sysctl:ident,)?
        name: $name:tt,
        author: $author:tt,
        description: $description:tt,
        license: $license:tt $(,)?
    ) => {
        /// The module: its scheduler's registration (and sysctl's), in drop order.
        struct IpvsSchedulerModule {
            _scheduler: $crate::glue::Registration<$scheduler>,
            $(_sysctl: ($crate::glue::NetSysctlRegistration, core::marker::PhantomData<$sysctl>),)?
        }

        impl kernel::Module for IpvsSchedulerModule {
            fn init(module: &'static kernel::ThisModule) -> kernel::error::Result<Self> {
                $(let sysctl = $crate::glue::NetSysctl::register::<$sysctl>()?;)?
                Ok(IpvsSchedulerModule {
                    _scheduler: $crate::glue::Registration::new(module)?,
                    $(_sysctl: (sysctl, core::marker::PhantomData::<$sysctl>),)?
                })
            }
        }

        kernel::prelude::module! {
            type: IpvsSchedulerModule,
            name: $name,
            author: $author,
            description: $description,
            license: $license,
        }
    };
}
