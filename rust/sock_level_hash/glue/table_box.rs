// SPDX-License-Identifier: GPL-2.0
//! The indirection table on the heap, built in place: at 4 KiB it must not pass through the
//! kernel's stack, and `setsockopt()` runs deep in a system call already.

use kernel::{init::Zeroable, prelude::*};

use crate::table::IndirectionTable;

// SAFETY: every field of the table is an integer or an array of integers
// (`core/src/table.rs`): the all-zero bit pattern is a valid value of each. It is also the
// empty table the core documents (no queue, every bucket to the normal queue), which
// `new_table` makes explicit with `reset`.
unsafe impl<const B: usize> Zeroable for IndirectionTable<B> {}

/// An empty table for no queues, allocated zeroed and reset in place.
pub(crate) fn new_table<const B: usize>() -> Result<KBox<IndirectionTable<B>>> {
    let mut table: KBox<IndirectionTable<B>> =
        KBox::init::<core::convert::Infallible>(kernel::init::zeroed(), GFP_KERNEL)?;
    table.reset(0).map_err(|_| EINVAL)?;
    Ok(table)
}
