// SPDX-License-Identifier: GPL-2.0
//! The lockdep classes of the glue's spinlocks, wait heads, works and timer.
//!
//! Lockdep wants one static key per class, which the C initialisers take; the glue's objects
//! are all made at run time, so their keys live here.

use kernel::{bindings, types::Opaque};

/// Lockdep classes of the queues' locks, the processes' wait heads, the listener's list of
/// them and the exit works (lockdep wants static keys).
pub(super) struct LockClass(pub(super) Opaque<bindings::lock_class_key>);
// SAFETY: lockdep synchronises its use of the keys itself.
unsafe impl Sync for LockClass {}
pub(super) static QUEUE_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());
pub(super) static WAIT_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());
pub(super) static PROCS_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());
pub(super) static WORK_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());
pub(super) static TIMER_LOCK_CLASS: LockClass = LockClass(Opaque::uninit());
