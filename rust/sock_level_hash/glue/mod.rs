// SPDX-License-Identifier: GPL-2.0
//! Socket-level hash glue: the one place where the Rust policy meets the kernel's C code.
//!
//! Every `unsafe` block and every call into C made by the `sock_level_hash` module is in this
//! directory. The C hooks (`include/net/sock_level_hash.h`) call a `sock_level_hash_ops` table
//! whose entries are the `extern "C"` trampolines of `ops.rs`; they hand the module
//! ([`Policy`]) safe views: a [`Listener`] (the state of one listen socket: its priority
//! queues, [`Queue`]s), proof that the socket is locked ([`SockGuard`]), the flow of a completed
//! connection.
//!
//! One abstraction per file:
//! - `policy.rs`: [`Policy`], what the module implements;
//! - `sock.rs`: the socket lock and what it guards ([`SockGuard`], [`SockLocked`], [`Sock`]);
//! - `listener.rs`: the state of one listen socket ([`Listener`]), the bounded wait's expiry;
//! - `queue.rs`: one priority queue ([`Queue`]) and its counters;
//! - `proc_wait.rs`: the wait head of each process ([`ProcWait`]), the listener's table of them;
//! - `ops.rs`: every entry from C ([`Registration`], the trampolines, the exit watch and work,
//!   the timer);
//! - `sockopt.rs`, `time.rs`, `lock_class.rs`: the options and errnos, jiffies, the lockdep
//!   keys;
//! - `table_box.rs`: the indirection table, allocated in place.
//!
//! Concurrency, in one place:
//! - everything that changes the configuration, the registrations or moves connections runs in
//!   process context under `lock_sock()` of the listener (the C hooks take it for the options;
//!   accept holds it; the exit work and `release` take it), which [`SockGuard`] proves;
//! - a completed connection is parked from softirq under the listener's `rskq_lock`: it reads
//!   the policy's routing locklessly and takes only the target queue's lock;
//! - each queue has its own spinlock: parking and taking one process's connections never touch
//!   another's, so workers share no new lock;
//! - a process waits (blocking `accept()`, `poll()`, `select()`, epoll) on a wait head of its
//!   own per listener, a [`ProcWait`] found by its thread-group pid, not on a queue's: the
//!   entry an epoll set adds once, at `EPOLL_CTL_ADD`, then stays right whether the process
//!   registers before or after, re-registers or leaves its queue, and a process that left a
//!   queue never takes a wake-up meant for the queue's next owner;
//! - queues are allocated in chunks that stay put until the socket is closed; a `ProcWait` is
//!   freed only when no entry is left on its head and no task of its process is left to add
//!   one (or at close), so no waiter's head is freed under it.
//!
//! [`Queue`]: queue::Queue
//! [`ProcWait`]: proc_wait::ProcWait

mod listener;
mod lock_class;
mod ops;
mod policy;
mod proc_wait;
mod queue;
mod sock;
mod sockopt;
mod table_box;
mod time;

pub(crate) use listener::Listener;
pub(crate) use ops::Registration;
pub(crate) use policy::Policy;
pub(crate) use sock::{Sock, SockGuard, SockLocked};
pub(crate) use sockopt::{errno, nr_cpu_ids, SockOpt};
pub(crate) use table_box::new_table;
