// SPDX-License-Identifier: GPL-2.0
//! Round-robin stepping, exactly as the kernel's `ip_vs_rr.c` steps.
//!
//! The service remembers the last server chosen (`svc->sched_data`, a place in the list,
//! at first the list head). Each connection goes to the next server after it, in list
//! order and wrapping around, that has a positive weight and is not overloaded; that server
//! becomes the new place. A walk that comes back to the place (or, starting at the head,
//! reaches the end) finds nothing: "no destination available", and the place stays.
//!
//! Pure code: compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core` where it is property-tested against a transcription of the C loop over
//! a linked list, deleted nodes included.
//!
//! # Positions
//!
//! A place is a cursor `C`: the list head's, or the one the caller's walk handed out with a
//! server (the list node in the kernel, as C's `sched_data`; an index of a node in the host
//! tests). [`pick`] takes a function that walks the list after a place.
//! Keeping the place across server changes (the same server; the one before it when its
//! server is deleted, C's `ip_vs_rr_del_dest()`) is list mechanics: the kernel glue does it
//! (`PlaceGuard::step_back_from`), and the host tests replay it on their list.
#![forbid(unsafe_code)]

use super::wlc::ServerLoad;

/// `ip_vs_rr_schedule()`: the server after `last` (the saved place) that is not overloaded
/// and has a positive weight, with its cursor, which the caller saves as the new place.
///
/// `walk(from)` gives the servers of the list after `from` (all of them after `head`), in
/// list order, each with its cursor and its load. Like C: the first pass walks from `last` to
/// the end of the list; if `last` is the head that is all. Otherwise a second pass walks from
/// the head and stops after testing `last` itself (a place that was unlinked is never met:
/// the second pass ends at the end of the list, as C's `pass < 2`). C tests `dest == last` in
/// the first pass too; so does this. Per server the flags are read, then the weight.
/// `None` (C logs "no destination available"): the caller keeps its place.
pub fn pick<C, T, L, I, F>(head: C, last: C, walk: F) -> Option<(C, T)>
where
    C: Copy + Eq,
    L: ServerLoad,
    I: Iterator<Item = (C, (T, L))>,
    F: Fn(C) -> I,
{
    for (cursor, (dest, load)) in walk(last) {
        if takes(&load) {
            return Some((cursor, dest));
        }
        if cursor == last {
            return None;
        }
    }
    // The place is the head: one pass was the whole list.
    if last == head {
        return None;
    }
    for (cursor, (dest, load)) in walk(head) {
        if takes(&load) {
            return Some((cursor, dest));
        }
        if cursor == last {
            return None;
        }
    }
    None
}

/// Whether rr takes the server: not overloaded, weight above 0 (read in that order).
fn takes<L: ServerLoad>(load: &L) -> bool {
    !load.overloaded() && load.weight() > 0
}
