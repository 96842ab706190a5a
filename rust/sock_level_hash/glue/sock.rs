// SPDX-License-Identifier: GPL-2.0
//! Proofs that a socket's lock is held: [`SockGuard`] (`lock_sock()` held by the current
//! task), [`SockLocked`] (data that only the holder of one socket's lock may touch, checked
//! against that socket) and [`Sock`] (a TCP socket during an option call, and its listener
//! state).
//!
//! Everything that configures a listener, registers a process or moves connections runs under
//! the listener's socket lock: these types make it a requirement in the signatures of the
//! policy's and the listener's methods, and `SockLocked` checks that it is the right socket.

use core::{
    cell::UnsafeCell,
    marker::PhantomData,
    ptr::{addr_of, addr_of_mut, null_mut, NonNull},
    sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64},
};
use kernel::{bindings, prelude::*, types::Opaque};

use super::listener::{Listener, MAX_CHUNKS};
use super::lock_class::TIMER_LOCK_CLASS;
use super::ops::expire_cb;
use super::policy::Policy;
use super::proc_wait::ProcWaits;

const TCP_CLOSE: u8 = 7;
pub(super) const TCP_LISTEN: u8 = 10;

/// Proof that the listener's socket lock (`lock_sock()`) is held by the current task.
pub(crate) struct SockGuard<'a> {
    sk: NonNull<bindings::sock>,
    owned: bool,
    _sock: PhantomData<&'a bindings::sock>,
}

impl SockGuard<'_> {
    /// Takes the socket lock (may sleep).
    ///
    /// # Safety
    ///
    /// `sk` is a live socket for `'a` and the caller does not hold its lock.
    pub(super) unsafe fn lock<'a>(sk: NonNull<bindings::sock>) -> SockGuard<'a> {
        // SAFETY: the socket is live (function's requirements); process context.
        unsafe { bindings::lock_sock(sk.as_ptr()) };
        SockGuard {
            sk,
            owned: true,
            _sock: PhantomData,
        }
    }

    /// A guard for a lock that the C caller holds (and releases).
    ///
    /// # Safety
    ///
    /// The caller holds `lock_sock()` of the live socket `sk` for `'a`.
    pub(super) unsafe fn held<'a>(sk: NonNull<bindings::sock>) -> SockGuard<'a> {
        SockGuard {
            sk,
            owned: false,
            _sock: PhantomData,
        }
    }

    /// The TCP state of the socket.
    pub(super) fn tcp_state(&self) -> u8 {
        // SAFETY: the socket is live while the guard exists. Its state changes under the
        // lock we hold, but softirq reads it without the lock, and a few transitions of a
        // socket that is not listening are made there: a volatile load, as C's
        // `inet_sk_state_load()`/`READ_ONCE()`.
        unsafe { core::ptr::read_volatile(addr_of!((*self.sk.as_ptr()).__sk_common.skc_state)) }
    }
}

impl Drop for SockGuard<'_> {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: we took the lock in `lock` and release it once.
            unsafe { bindings::release_sock(self.sk.as_ptr()) };
        }
    }
}

/// Data changed only under one listener's socket lock, which a [`SockGuard`] of that socket
/// proves. Bound to its socket when made and checked on each access, as
/// `kernel::sync::LockedBy` checks its owner (a guard of another socket is a bug, and panics).
pub(crate) struct SockLocked<T> {
    sk: *const bindings::sock,
    value: UnsafeCell<T>,
}

// SAFETY: access is serialised by the socket lock (see `get`); `sk` is only compared.
unsafe impl<T: Send> Sync for SockLocked<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for SockLocked<T> {}

impl<T> SockLocked<T> {
    /// Wraps `value`, guarded by the lock of the socket `guard` holds.
    pub(crate) fn new(guard: &SockGuard<'_>, value: T) -> Self {
        Self {
            sk: guard.sk.as_ptr(),
            value: UnsafeCell::new(value),
        }
    }

    /// The data, while the caller holds the socket lock of the listener that owns it.
    pub(crate) fn get<'a>(&'a self, guard: &'a mut SockGuard<'_>) -> &'a mut T {
        if !core::ptr::eq(guard.sk.as_ptr(), self.sk) {
            panic!("SockLocked accessed under another socket's lock");
        }
        // SAFETY: the guard proves this socket's lock is held (checked above) and is borrowed
        // mutably for as long as the reference lives, so no other reference exists.
        unsafe { &mut *self.value.get() }
    }
}

/// A TCP socket during an option call, locked.
pub(crate) struct Sock<'a, P: Policy> {
    pub(super) guard: SockGuard<'a>,
    pub(super) _policy: PhantomData<P>,
}

impl<'a, P: Policy> Sock<'a, P> {
    /// The listener state, if the option was ever turned on for this socket.
    pub(crate) fn listener(&self) -> Option<&'a Listener<P>> {
        // SAFETY: the socket is a live TCP socket, locked; the state it points to lives until
        // `release_cb`, which cannot run during an option call (the caller holds the file).
        unsafe { Listener::<P>::of(self.guard.sk.as_ptr()) }
    }

    /// The listener state, created (with the policy's fresh data) if missing.
    pub(crate) fn listener_or_create(&mut self) -> Result<&'a Listener<P>> {
        if let Some(listener) = self.listener() {
            return Ok(listener);
        }
        let data = P::new_data(&self.guard)?;
        let listener = KBox::into_raw(KBox::new(
            Listener {
                sk: self.guard.sk.as_ptr(),
                chunks: [const { AtomicPtr::new(null_mut()) }; MAX_CHUNKS],
                procs: ProcWaits::new(),
                closing: AtomicBool::new(false),
                normal_queued: AtomicU64::new(0),
                normal_accepted: AtomicU64::new(0),
                max_wait: AtomicU32::new(0),
                timer: Opaque::uninit(),
                data,
            },
            GFP_KERNEL,
        )?);
        let sk = self.guard.sk.as_ptr();
        // SAFETY: the state is our fresh allocation, at its final address, not yet published;
        // the timer's key is static. `release_cb` shuts the timer down before freeing it.
        unsafe {
            (*listener).procs.init();
            bindings::init_timer_key(
                (*listener).timer.get(),
                Some(expire_cb::<P>),
                0,
                kernel::c_str!("sock_level_hash_expire").as_char_ptr(),
                TIMER_LOCK_CLASS.0.get(),
            );
        }
        // SAFETY: `sk` is a locked TCP socket (an `inet_connection_sock`); the pointer is
        // published under `rskq_lock`, which the enqueue hook holds while it reads it. The C
        // side takes a module reference for the new state.
        unsafe {
            let queue =
                addr_of_mut!((*sk.cast::<bindings::inet_connection_sock>()).icsk_accept_queue);
            bindings::spin_lock_bh(addr_of_mut!((*queue).rskq_lock));
            core::ptr::write_volatile(addr_of_mut!((*queue).slh), listener.cast());
            bindings::spin_unlock_bh(addr_of_mut!((*queue).rskq_lock));
            Ok(&*listener)
        }
    }

    /// The socket lock.
    pub(crate) fn guard(&mut self) -> &mut SockGuard<'a> {
        &mut self.guard
    }

    /// Whether the socket may get the option: not yet connected (`TCP_CLOSE`, before
    /// `listen()`) or listening.
    pub(crate) fn is_listener_or_unbound(&self) -> bool {
        matches!(self.guard.tcp_state(), TCP_CLOSE | TCP_LISTEN)
    }
}
