// SPDX-License-Identifier: GPL-2.0
//! Every entry from C: the registered `sock_level_hash_ops` table, [`Registration`], with its
//! `extern "C"` trampolines, and the callbacks of an owner's exit watch, of the exit work and
//! of the expiry timer.
//!
//! Each one turns the raw pointers C hands over into the glue's safe views (a [`Listener`], a
//! [`SockGuard`], the flow of a connection) and calls the [`Policy`] or the listener: why
//! each pointer is valid is argued here, once per hook.

use core::{
    ffi::{c_int, c_uint, c_void},
    marker::PhantomData,
    pin::Pin,
    ptr::{addr_of_mut, null_mut, NonNull},
    sync::atomic::Ordering,
};
use kernel::{bindings, error::from_result, prelude::*, types::Opaque, ThisModule};

use super::listener::Listener;
use super::policy::Policy;
use super::proc_wait::group_exited;
use super::queue::{Queue, EPOLLIN, EPOLLRDNORM};
use super::sock::{Sock, SockGuard};
use super::sockopt::{enoprotoopt, SockOpt};
use super::time::now;
use crate::bound;
use crate::hash::FlowKey;

const AF_INET6: u16 = 10;

/// The registered `sock_level_hash_ops`; unregistered when dropped.
pub(crate) struct Registration<P: Policy> {
    ops: Pin<KBox<Opaque<bindings::sock_level_hash_ops>>>,
    _policy: PhantomData<P>,
}

// SAFETY: only dropped, which may happen from any process context.
unsafe impl<P: Policy> Send for Registration<P> {}
// SAFETY: a shared registration exposes nothing.
unsafe impl<P: Policy> Sync for Registration<P> {}

impl<P: Policy> Registration<P> {
    /// Registers the policy's hooks. Each listener with state holds a reference to `module`.
    pub(crate) fn new(module: &'static ThisModule) -> Result<Self> {
        let ops = KBox::pin(
            Opaque::<bindings::sock_level_hash_ops>::uninit(),
            GFP_KERNEL,
        )?;
        // SAFETY: our own fresh allocation, fully written before registration.
        unsafe {
            ops.get().write(bindings::sock_level_hash_ops {
                owner: module.as_ptr(),
                setsockopt: Some(setsockopt_cb::<P>),
                getsockopt: Some(getsockopt_cb::<P>),
                enqueue: Some(enqueue_cb::<P>),
                dequeue: Some(dequeue_cb::<P>),
                accepted_normal: Some(accepted_normal_cb::<P>),
                pending: Some(pending_cb::<P>),
                wait_head: Some(wait_head_cb::<P>),
                woken: Some(woken_cb::<P>),
                poll: Some(poll_cb::<P>),
                listen_stop: Some(listen_stop_cb::<P>),
                release: Some(release_cb::<P>),
            });
        }
        // SAFETY: the table is initialised and pinned until `drop` unregisters it.
        kernel::error::to_result(unsafe { bindings::sock_level_hash_register_ops(ops.get()) })?;
        Ok(Self {
            ops,
            _policy: PhantomData,
        })
    }
}

impl<P: Policy> Drop for Registration<P> {
    fn drop(&mut self) {
        // SAFETY: registered in `new`. No listener has state (each holds a module reference),
        // hence no exit work; unregistering waits for option calls in flight, and the barrier
        // for the `ProcWait`s still queued with `call_rcu`, whose callback is our code.
        unsafe {
            bindings::sock_level_hash_unregister_ops(self.ops.get());
            bindings::rcu_barrier();
        }
    }
}

unsafe extern "C" fn setsockopt_cb<P: Policy>(
    sk: *mut bindings::sock,
    optname: c_int,
    val: *const c_void,
    len: c_uint,
) -> c_int {
    from_result(|| {
        let option = SockOpt::from_raw(optname).ok_or_else(enoprotoopt)?;
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: C copied the caller's value into a kernel buffer of `len` bytes (at most
        // `SOCK_LEVEL_HASH_OPTLEN_MAX`), valid for the call.
        let value = unsafe { core::slice::from_raw_parts(val.cast::<u8>(), len) };
        let sk = NonNull::new(sk).ok_or(EINVAL)?;
        let mut sock = Sock::<P> {
            // SAFETY: C calls us with the TCP socket locked.
            guard: unsafe { SockGuard::held(sk) },
            _policy: PhantomData,
        };
        P::setsockopt(&mut sock, option, value)?;
        Ok(0)
    })
}

unsafe extern "C" fn getsockopt_cb<P: Policy>(
    sk: *mut bindings::sock,
    optname: c_int,
    val: *mut c_void,
    len: c_uint,
) -> c_int {
    from_result(|| {
        let option = SockOpt::from_raw(optname).ok_or_else(enoprotoopt)?;
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        // SAFETY: C hands us a zeroed kernel buffer of `len` bytes, valid for the call, which
        // it copies out after releasing the socket lock.
        let out = unsafe { core::slice::from_raw_parts_mut(val.cast::<u8>(), len) };
        let sk = NonNull::new(sk).ok_or(EINVAL)?;
        let mut sock = Sock::<P> {
            // SAFETY: C calls us with the TCP socket locked.
            guard: unsafe { SockGuard::held(sk) },
            _policy: PhantomData,
        };
        let written = P::getsockopt(&mut sock, option, out)?.min(len);
        c_int::try_from(written).map_err(|_| EINVAL)
    })
}

/// The listener state of a socket that C says has one (it tested the pointer).
///
/// # Safety
///
/// `sk` is a live TCP socket with state, and the state is not released during `'a`: the C
/// hooks run while the caller holds the socket's file (accept, poll) or under `rskq_lock`
/// (enqueue), and `release_cb` detaches the state under `rskq_lock` at close.
unsafe fn listener<'a, P: Policy>(sk: *mut bindings::sock) -> Option<&'a Listener<P>> {
    // SAFETY: see the function's requirements.
    unsafe { Listener::<P>::of(sk) }
}

/// The flow of a completed connection, client first.
///
/// # Safety
///
/// `req` is a live request sock.
unsafe fn flow_of(req: *mut bindings::request_sock) -> FlowKey {
    let mut flow = bindings::sock_level_hash_flow::default();
    // SAFETY: `req` is live (function's requirements); C fills `flow`.
    unsafe { bindings::sock_level_hash_flow(req, &mut flow) };
    if flow.family == AF_INET6 {
        FlowKey::V6 {
            src: flow.client,
            dst: flow.server,
            sport: flow.client_port,
            dport: flow.server_port,
        }
    } else {
        let four = |bytes: &[u8; 16]| [bytes[0], bytes[1], bytes[2], bytes[3]];
        FlowKey::V4 {
            src: four(&flow.client),
            dst: four(&flow.server),
            sport: flow.client_port,
            dport: flow.server_port,
        }
    }
}

unsafe extern "C" fn enqueue_cb<P: Policy>(
    sk: *mut bindings::sock,
    req: *mut bindings::request_sock,
) -> bool {
    // SAFETY: C calls us under `rskq_lock` for a socket with state (see `listener`).
    let Some(listener) = (unsafe { listener::<P>(sk) }) else {
        return false;
    };
    // SAFETY: C hands us a completed connection with its child set.
    let flow = unsafe { flow_of(req) };
    let parked = P::route(listener, &flow)
        .and_then(|index| listener.queue(index))
        // SAFETY: as above; on success the queue owns the request.
        .is_some_and(|queue| unsafe { queue.park(req) });
    if !parked {
        listener.normal_queued.fetch_add(1, Ordering::Relaxed);
    } else {
        let max_wait = listener.max_wait.load(Ordering::Relaxed);
        if max_wait != 0 {
            listener.arm_timer(now(), max_wait);
        }
    }
    parked
}

unsafe extern "C" fn dequeue_cb<P: Policy>(sk: *mut bindings::sock) -> *mut bindings::request_sock {
    // SAFETY: accept holds the socket lock and the file (see `listener`).
    let Some(listener) = (unsafe { listener::<P>(sk) }) else {
        return null_mut();
    };
    let Some(queue) = listener.caller_queue() else {
        return null_mut();
    };
    if queue.may_return(now()) {
        if let Some(sk) = NonNull::new(sk) {
            // SAFETY: accept holds the socket lock.
            let mut guard = unsafe { SockGuard::held(sk) };
            P::owner_back(listener, &mut guard, queue.index);
        }
    }
    queue.pop().map_or(null_mut(), |req| req.as_ptr())
}

unsafe extern "C" fn accepted_normal_cb<P: Policy>(sk: *mut bindings::sock) {
    // SAFETY: as in `dequeue_cb`.
    if let Some(listener) = unsafe { listener::<P>(sk) } {
        listener.normal_accepted.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe extern "C" fn pending_cb<P: Policy>(sk: *mut bindings::sock) -> bool {
    // SAFETY: called from a blocking accept, which holds the file (see `listener`).
    let listener = unsafe { listener::<P>(sk) };
    listener
        .and_then(|listener| listener.caller_queue())
        .is_some_and(|queue| queue.depth() > 0)
}

unsafe extern "C" fn wait_head_cb<P: Policy>(
    sk: *mut bindings::sock,
) -> *mut bindings::wait_queue_head {
    // SAFETY: as in `dequeue_cb`.
    let Some(listener) = (unsafe { listener::<P>(sk) }) else {
        return null_mut();
    };
    // A process without a queue waits on its head too: it may register while asleep (from
    // another thread), and its parked connections must wake it then. Without memory it
    // waits on the normal queue alone, as before it had a queue.
    // The head lives while a task of the process (the caller) can use it.
    listener
        .procs
        .caller_or_create()
        .map_or(null_mut(), |proc_wait| {
            proc_wait.waited.store(true, Ordering::Release);
            proc_wait.wait.get()
        })
}

unsafe extern "C" fn woken_cb<P: Policy>(sk: *mut bindings::sock) {
    // SAFETY: as in `dequeue_cb`.
    let listener = unsafe { listener::<P>(sk) };
    if let Some(queue) = listener.and_then(|listener| listener.caller_queue()) {
        queue.stats.wakeups.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe extern "C" fn poll_cb<P: Policy>(
    file: *mut bindings::file,
    sk: *mut bindings::sock,
    wait: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: poll holds the file (see `listener`).
    let Some(listener) = (unsafe { listener::<P>(sk) }) else {
        return 0;
    };
    // SAFETY: `wait` is null or the caller's poll table.
    let adds_entry = !wait.is_null() && unsafe { (*wait)._qproc.is_some() };
    if adds_entry {
        // Whether or not the process owns a queue now: an epoll set adds its entry only
        // once, and the process may register (or move to another queue) later.
        if let Ok(proc_wait) = listener.procs.caller_or_create() {
            proc_wait.waited.store(true, Ordering::Release);
            // SAFETY: the head is not freed while an entry is on it (see `ProcWaits`).
            unsafe { bindings::poll_wait(file, proc_wait.wait.get(), wait) };
        }
    }
    let Some(queue) = listener.caller_queue() else {
        return 0;
    };
    if queue.depth() > 0 || queue.may_return(now()) {
        EPOLLIN | EPOLLRDNORM
    } else {
        0
    }
}

unsafe extern "C" fn listen_stop_cb<P: Policy>(sk: *mut bindings::sock) {
    // SAFETY: C calls us with the socket locked and its file held.
    let Some(listener) = (unsafe { listener::<P>(sk) }) else {
        return;
    };
    let Some(sk) = NonNull::new(sk) else {
        return;
    };
    // SAFETY: the state change to a non-listening state happened under `rskq_lock`'s
    // protection of the enqueue hook; taking the lock once makes every enqueue that still
    // saw the listening state finish before we empty the queues.
    unsafe {
        let queue =
            addr_of_mut!((*sk.as_ptr().cast::<bindings::inet_connection_sock>()).icsk_accept_queue);
        bindings::spin_lock_bh(addr_of_mut!((*queue).rskq_lock));
        bindings::spin_unlock_bh(addr_of_mut!((*queue).rskq_lock));
    }
    // SAFETY: the socket is locked by our caller.
    let mut guard = unsafe { SockGuard::held(sk) };
    listener.unpark_all(&mut guard);
}

unsafe extern "C" fn release_cb<P: Policy>(sk: *mut bindings::sock) {
    let Some(sk) = NonNull::new(sk) else {
        return;
    };
    // SAFETY: called from `tcp_close()` without the lock; the socket lives until it returns.
    let state = {
        // SAFETY: see above.
        let mut guard = unsafe { SockGuard::lock(sk) };
        // SAFETY: the state lives until we free it below.
        let Some(listener) = (unsafe { listener::<P>(sk.as_ptr()) }) else {
            return;
        };
        listener.closing.store(true, Ordering::Release);
        P::release(listener, &mut guard);
        // Detach under `rskq_lock`: an enqueue in flight finishes first, later ones see none.
        // SAFETY: `sk` is a TCP socket with this state.
        unsafe {
            let queue = addr_of_mut!(
                (*sk.as_ptr().cast::<bindings::inet_connection_sock>()).icsk_accept_queue
            );
            bindings::spin_lock_bh(addr_of_mut!((*queue).rskq_lock));
            core::ptr::write_volatile(addr_of_mut!((*queue).slh), null_mut());
            bindings::spin_unlock_bh(addr_of_mut!((*queue).rskq_lock));
        }
        (listener as *const Listener<P>).cast_mut()
    };
    // The socket lock is released: an exit work waiting for it sees `closing` and returns.
    // SAFETY: the state was created by `KBox::into_raw` in `listener_or_create` and is no
    // longer reachable from the socket: no enqueue arms the timer any more, and a running
    // timer finds `closing` set. After the timer is shut down and every work cancelled (a
    // timer may queue one), nothing uses it.
    unsafe {
        bindings::timer_shutdown_sync((*state).timer.get());
        for entry in (*state).chunks.iter() {
            let chunk = entry.load(Ordering::Acquire);
            if chunk.is_null() {
                break;
            }
            for queue in (*chunk).iter() {
                bindings::cancel_work_sync(queue.work.get());
            }
            drop(KBox::from_raw(chunk));
        }
        (*state).procs.free_all();
        drop(KBox::from_raw(state));
    }
}

pub(super) unsafe extern "C" fn owner_exit_wake<P: Policy>(
    entry: *mut bindings::wait_queue_entry,
    _mode: c_uint,
    _sync: c_int,
    _key: *mut c_void,
) -> c_int {
    // SAFETY: `entry` is the `watch` of a queue (only `Queue::init` sets this function), which
    // stays allocated while the entry is on the pid's wait head.
    let queue = unsafe { &*kernel::container_of!(entry, Queue, watch) };
    queue
        .exited
        .store(queue.owner.load(Ordering::Acquire), Ordering::Release);
    queue.queue_work();
    0
}

pub(super) unsafe extern "C" fn owner_exit_work<P: Policy>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the `work` of a queue (only `Queue::init` sets this function); the
    // queue and its listener stay allocated until `release_cb` has cancelled this work.
    let queue = unsafe { &*kernel::container_of!(work, Queue, work) };
    // SAFETY: as above.
    let listener = unsafe { &*queue.listener.load(Ordering::Acquire).cast::<Listener<P>>() };
    let Some(sk) = NonNull::new(listener.sk) else {
        return;
    };
    // SAFETY: the socket outlives its state; process context.
    let mut guard = unsafe { SockGuard::lock(sk) };
    if listener.closing.load(Ordering::Acquire) {
        return;
    }
    let exited = queue.exited.swap(null_mut(), Ordering::AcqRel);
    // The owner's pid reference is held by the queue while it is the owner; the pid's wait
    // head is woken for other reasons than the group's exit too, which leave the owner be.
    // SAFETY: `exited` is the owner's pid, referenced by the queue.
    if !exited.is_null()
        && exited == queue.owner.load(Ordering::Acquire)
        && unsafe { group_exited(exited) }
    {
        P::owner_exited(listener, &mut guard, queue.index);
    }
    // The owner may have accepted since the timer asked (which resets the misses).
    if queue.standby_pending.swap(false, Ordering::AcqRel)
        && queue.has_owner()
        && !queue.on_standby()
        && bound::goes_on_standby(queue.misses.load(Ordering::Relaxed))
    {
        P::owner_lagging(listener, &mut guard, queue.index);
    }
}

pub(super) unsafe extern "C" fn expire_cb<P: Policy>(timer: *mut bindings::timer_list) {
    // SAFETY: `timer` is the `timer` of a listener state (only `listener_or_create` sets this
    // function), which `release_cb` frees only after shutting the timer down.
    let listener = unsafe { &*kernel::container_of!(timer, Listener<P>, timer) };
    if let Some(next) = listener.expire() {
        listener.arm_timer(next, 0);
    }
}
