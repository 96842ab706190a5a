// SPDX-License-Identifier: GPL-2.0
//! The module's side of the glue: [`Policy`], what the socket-level hash module implements to
//! say what the options mean and where a connection goes.
//!
//! The glue calls it from the C hooks with safe views only (a [`Sock`], a [`Listener`] and a
//! [`SockGuard`] that proves the socket lock), so that the policy, `rust/sock_level_hash.rs`,
//! needs no `unsafe`.

use kernel::prelude::*;

use super::listener::Listener;
use super::sock::{Sock, SockGuard};
use super::sockopt::SockOpt;
use crate::hash::FlowKey;

/// The module's side: what to do with the options and where a connection goes.
pub(crate) trait Policy: Sized + 'static {
    /// Per-listener data of the policy (configuration, routing).
    type Data: Send + Sync;

    /// Data for a listener that just turned the option on.
    fn new_data(guard: &SockGuard<'_>) -> Result<KBox<Self::Data>>;

    /// `setsockopt(SO_SOCKLEVELHASH | SO_SOCKADDLSPH)` on a TCP socket, socket locked.
    fn setsockopt(sock: &mut Sock<'_, Self>, option: SockOpt, value: &[u8]) -> Result;

    /// `getsockopt()` of the three options on a TCP socket, socket locked: writes at most
    /// `out.len()` bytes (the caller's optlen) and returns how many.
    fn getsockopt(sock: &mut Sock<'_, Self>, option: SockOpt, out: &mut [u8]) -> Result<usize>;

    /// Softirq: the queue a completed connection with `flow` goes to, `None` for the normal
    /// queue. Must not block.
    fn route(listener: &Listener<Self>, flow: &FlowKey) -> Option<usize>;

    /// The process that owned queue `index` exited (socket locked): deregister it.
    fn owner_exited(listener: &Listener<Self>, guard: &mut SockGuard<'_>, index: usize);

    /// The owner of queue `index` let [`crate::bound::MISSES_FOR_STANDBY`] connections in a
    /// row wait out the bounded wait: take its buckets (it stays registered) and call
    /// [`Listener::set_standby`].
    fn owner_lagging(listener: &Listener<Self>, guard: &mut SockGuard<'_>, index: usize);

    /// The owner of queue `index`, on standby, calls `accept()` again: give it a share back and
    /// call [`Listener::set_standby`].
    fn owner_back(listener: &Listener<Self>, guard: &mut SockGuard<'_>, index: usize);

    /// The socket is being closed (socket locked): turn the option off, deregistering every
    /// process; the glue frees everything afterwards.
    fn release(listener: &Listener<Self>, guard: &mut SockGuard<'_>);
}
