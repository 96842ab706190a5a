// SPDX-License-Identifier: GPL-2.0 OR MIT
//! The indirection table of the socket-level hash: hash → bucket → queue.
//!
//! Like a NIC's RSS indirection table, a connection's hash selects one of `B` buckets, and each
//! bucket names the queue of the process that owns it, or none (the connection then goes
//! to the listener's normal accept queue). The level of indirection is what makes processes
//! come and go cheaply: when one registers or leaves, only bucket owners change, and only as
//! few as possible, so every other client keeps reaching the process that holds its session.
//!
//! Invariants kept by every operation (the property tests check them):
//! - every bucket is owned by a registered queue, or by none when no queue is registered;
//! - the bucket counts of the registered queues differ by at most one;
//! - a registration moves only `floor(B / n)` buckets (n counting the newcomer), all to the
//!   newcomer and only from queues above their new fair share (all `B` buckets for the first
//!   process); a deregistration moves only the leaving queue's buckets.
//!
//! Pure code: compiled into the kernel module and, unchanged, into the host crate
//! `sock-level-hash-core`, so: `core` only, fixed-size arrays, no allocation, no panics.
#![forbid(unsafe_code)]

/// Most queues a table can have: the kernel allows up to 1024 queues per listener.
pub const MAX_QUEUES: usize = 1024;

/// Largest bucket count a table may be instantiated with.
///
/// Enough for 4 buckets per queue at [`MAX_QUEUES`]; keeps bucket counts in a `u16` and a table
/// within a few pages.
pub const MAX_BUCKETS: usize = 4096;

/// The bucket count the kernel uses.
///
/// 256 buckets spread 2, 4, 8, ..., 256 processes exactly evenly and any other count up to a
/// few dozen within a fraction of a percent (e.g. 86/85/85 for 3), finer than the hash's own
/// statistical unevenness on real traffic; it is exactly the range of the 8-bit XOR folds, so
/// every hash function can reach every bucket (more buckets would leave some empty under the
/// folds); and the owner arrays stay at 1 KiB. NICs use 128 entries for the same job; we take
/// the next power of two because processes, unlike NIC queues, are often not a power of two.
pub const DEFAULT_BUCKETS: usize = 256;

/// A queue, by its index `0..n_queues`.
pub type Slot = u16;

/// Why a table operation was refused; a refused operation changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// More queues were asked for than [`MAX_QUEUES`].
    TooManySlots,
    /// The queue index is not below the table's queue count.
    SlotOutOfRange,
    /// `register` of a queue that is already registered.
    AlreadyRegistered,
    /// `deregister` of a queue that is not registered.
    NotRegistered,
    /// `register_any` with every queue taken.
    NoFreeSlot,
    /// `demote` of a queue that is on standby already.
    OnStandby,
    /// `promote` of a queue that is not on standby.
    NotOnStandby,
}

/// One bucket whose owner the last successful operation changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// The bucket index.
    pub bucket: usize,
    /// Its owner before (`None`: the normal accept queue).
    pub from: Option<Slot>,
    /// Its owner now (`None`: the normal accept queue).
    pub to: Option<Slot>,
}

/// Bucket owners are stored as `queue + 1`, with this meaning "none".
///
/// Then the all-zero bit pattern is a valid table (no queues, nothing registered, all buckets
/// on the normal queue), so the kernel can allocate it zeroed and [`IndirectionTable::reset`]
/// it in place instead of building a multi-KiB value on its small stack.
const NONE: u16 = 0;

fn decode(owner: u16) -> Option<Slot> {
    owner.checked_sub(1)
}

fn set_bit(bitmap: &mut [u64], bit: usize, value: bool) {
    if let Some(word) = bitmap.get_mut(bit / 64) {
        *word = (*word & !(1 << (bit % 64))) | (u64::from(value) << (bit % 64));
    }
}

fn is_set(bitmap: &[u64], bit: usize) -> bool {
    bitmap
        .get(bit / 64)
        .is_some_and(|word| word & (1 << (bit % 64)) != 0)
}

/// A bucket → queue table with `B` buckets (a power of two, at most [`MAX_BUCKETS`]) and up to
/// [`MAX_QUEUES`] queues.
///
/// `B` is a const generic so the arrays have a fixed size (no allocation) and tests can use
/// tiny tables; the kernel uses the default, [`DEFAULT_BUCKETS`]. Every field is an integer or
/// an array of integers: the kernel allocates the table zeroed (`glue/table_box.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndirectionTable<const B: usize = DEFAULT_BUCKETS> {
    /// Owner of each bucket, encoded `queue + 1`, [`NONE`] for the normal queue.
    owner: [u16; B],
    /// `owner` before the last successful operation, for [`Self::moves`].
    prev: [u16; B],
    /// The queue each bucket was lent out from when that queue last left or went on standby,
    /// encoded as `owner`; [`NONE`] once a queue took it in a join.
    home: [u16; B],
    /// Buckets owned by each queue (0 for unregistered queues).
    count: [u16; MAX_QUEUES],
    /// Bitmap of the registered queues.
    registered: [u64; MAX_QUEUES / 64],
    /// Number of registered queues.
    n_registered: usize,
    /// Bitmap of the registered queues on standby: registered, but given no bucket.
    standby: [u64; MAX_QUEUES / 64],
    /// Number of queues on standby.
    n_standby: usize,
    /// Queues usable by this table (the listener's queue count), at most [`MAX_QUEUES`].
    n_queues: usize,
    /// Buckets whose owner the last successful operation changed.
    moved: usize,
}

impl<const B: usize> IndirectionTable<B> {
    /// The number of buckets.
    pub const BUCKETS: usize = B;

    /// Rejects a bad `B` at compile time (evaluated when a constructor is instantiated), so no
    /// operation has to check it at run time.
    const VALID_BUCKETS: () = assert!(
        B.is_power_of_two() && B <= MAX_BUCKETS,
        "bucket count must be a power of two, at most MAX_BUCKETS"
    );

    /// An empty table for `n_queues` queues: nothing registered, every bucket goes to the
    /// normal accept queue.
    pub const fn new(n_queues: usize) -> Result<Self, TableError> {
        let () = Self::VALID_BUCKETS;
        if n_queues > MAX_QUEUES {
            return Err(TableError::TooManySlots);
        }
        Ok(Self {
            owner: [NONE; B],
            prev: [NONE; B],
            home: [NONE; B],
            count: [0; MAX_QUEUES],
            registered: [0; MAX_QUEUES / 64],
            n_registered: 0,
            standby: [0; MAX_QUEUES / 64],
            n_standby: 0,
            n_queues,
            moved: 0,
        })
    }

    /// Makes `self` what [`Self::new`] returns, in place (for zero-allocated tables).
    pub fn reset(&mut self, n_queues: usize) -> Result<(), TableError> {
        let () = Self::VALID_BUCKETS;
        if n_queues > MAX_QUEUES {
            return Err(TableError::TooManySlots);
        }
        self.owner = [NONE; B];
        self.prev = [NONE; B];
        self.home = [NONE; B];
        self.count = [0; MAX_QUEUES];
        self.registered = [0; MAX_QUEUES / 64];
        self.n_registered = 0;
        self.standby = [0; MAX_QUEUES / 64];
        self.n_standby = 0;
        self.n_queues = n_queues;
        self.moved = 0;
        Ok(())
    }

    /// The bucket of a hash: its low bits, like RSS.
    pub const fn bucket_of(hash: u32) -> usize {
        // Lossless on every target the kernel supports (usize >= 32 bits).
        hash as usize & (B - 1)
    }

    /// The queue a connection with this hash goes to; `None`: the normal queue.
    ///
    /// The hot path: one masked load.
    pub fn lookup(&self, hash: u32) -> Option<Slot> {
        self.owner(Self::bucket_of(hash))
    }

    /// The owner of `bucket` (`None`: the normal queue, or `bucket` out of range).
    pub fn owner(&self, bucket: usize) -> Option<Slot> {
        self.owner.get(bucket).and_then(|&owner| decode(owner))
    }

    /// The number of queues of this table.
    pub fn n_queues(&self) -> usize {
        self.n_queues
    }

    /// The number of registered queues.
    pub fn registered_count(&self) -> usize {
        self.n_registered
    }

    /// Whether `queue` is registered.
    pub fn is_registered(&self, queue: Slot) -> bool {
        is_set(&self.registered, usize::from(queue))
    }

    /// The registered queues, in increasing order.
    pub fn registered_queues(&self) -> impl Iterator<Item = Slot> + '_ {
        // `queue < n_queues <= MAX_QUEUES` fits a `Slot`.
        (0..self.n_queues)
            .filter(|&queue| is_set(&self.registered, queue))
            .map(|queue| queue as Slot)
    }

    /// Whether `queue` is registered but on standby (see [`Self::demote`]).
    pub fn is_on_standby(&self, queue: Slot) -> bool {
        is_set(&self.standby, usize::from(queue))
    }

    /// The number of registered queues that take buckets (not on standby).
    pub fn active_count(&self) -> usize {
        self.n_registered - self.n_standby
    }

    /// The number of buckets `queue` owns (0 when not registered).
    pub fn bucket_count(&self, queue: Slot) -> usize {
        self.count
            .get(usize::from(queue))
            .map_or(0, |&count| usize::from(count))
    }

    /// The lowest queue that is not registered, for a registration that names no queue.
    pub fn first_free_queue(&self) -> Option<Slot> {
        let (word_index, word) = self
            .registered
            .iter()
            .enumerate()
            .find(|(_, &word)| word != u64::MAX)?;
        let queue = word_index * 64 + word.trailing_ones() as usize;
        // Bits at and above `n_queues` are never set, so a free queue found there means none is
        // free below it. `queue < n_queues <= MAX_QUEUES` fits a `Slot`.
        (queue < self.n_queues).then_some(queue as Slot)
    }

    /// Registers `queue` (a process took it) and rebalances: the newcomer gets
    /// `floor(B / n)` buckets (n: queues taking buckets now), taken only from queues above their
    /// new fair share; the first such queue gets every bucket. Returns the number of buckets
    /// moved, which is the least any balanced rebalancing can move: the newcomer starts with
    /// none and needs at least `floor(B / n)` to be within one of everybody else.
    pub fn register(&mut self, queue: Slot) -> Result<usize, TableError> {
        let index = self.check_queue(queue)?;
        if self.is_registered(queue) {
            return Err(TableError::AlreadyRegistered);
        }
        set_bit(&mut self.registered, index, true);
        self.n_registered += 1;
        Ok(self.join(index))
    }

    /// Takes `queue` off standby (its process keeps up again): it gets a fair share back, as
    /// [`Self::register`] gives one.
    pub fn promote(&mut self, queue: Slot) -> Result<usize, TableError> {
        let index = self.check_queue(queue)?;
        if !self.is_registered(queue) {
            return Err(TableError::NotRegistered);
        }
        if !self.is_on_standby(queue) {
            return Err(TableError::NotOnStandby);
        }
        set_bit(&mut self.standby, index, false);
        self.n_standby -= 1;
        Ok(self.join(index))
    }

    /// Puts `queue` on standby (its process does not keep up): it stays registered, but its
    /// buckets go to the queues that take buckets, as on [`Self::deregister`], or to the normal
    /// queue when none is left. Returns the number of buckets moved.
    pub fn demote(&mut self, queue: Slot) -> Result<usize, TableError> {
        let index = self.check_queue(queue)?;
        if !self.is_registered(queue) {
            return Err(TableError::NotRegistered);
        }
        if self.is_on_standby(queue) {
            return Err(TableError::OnStandby);
        }
        set_bit(&mut self.standby, index, true);
        self.n_standby += 1;
        Ok(self.leave(index))
    }

    /// Gives queue `index`, which just started taking buckets, its share.
    fn join(&mut self, index: usize) -> usize {
        self.prev = self.owner;
        // `index < MAX_QUEUES`, so `index + 1` neither overflows nor collides with `NONE`.
        let newcomer = index as u16 + 1;

        let n = self.active_count();
        if n == 1 {
            // Everybody's buckets were on the normal queue: all of them are the newcomer's.
            self.owner = [newcomer; B];
            self.home = [NONE; B];
            self.set_count(index, B);
            return self.finish_move();
        }

        let (fair, extra) = (B / n, B % n);
        // The old queues had `F` or `F + 1` buckets (F = floor(B / (n - 1)) >= fair); they must
        // end with `fair` or `fair + 1`, exactly `extra` of them with `fair + 1` (the newcomer
        // takes `fair`). A queue above `fair + 1` gives down to `fair + 1`; of the queues that
        // reach `fair + 1` (there are at least `extra`), all but `extra` give one more. In any
        // order of the buckets each giver gives exactly its surplus, so the scans move exactly
        // `fair` buckets, each straight to the newcomer: first those lent out from it, then any.
        let above = self
            .count
            .iter()
            .filter(|&&count| usize::from(count) > fair)
            .count();
        let mut drops = above.saturating_sub(extra);
        let mut taken = 0;
        let Self {
            owner, count, home, ..
        } = self;
        for own_first in [true, false] {
            for (entry, home) in owner.iter_mut().zip(home.iter_mut()) {
                if taken == fair {
                    break;
                }
                if own_first && *home != newcomer {
                    continue;
                }
                // The newcomer owns nothing yet (count 0): its own entries never give.
                let Some(giver) = decode(*entry).and_then(|old| count.get_mut(usize::from(old)))
                else {
                    continue;
                };
                let has = usize::from(*giver);
                let gives = has > fair + 1 || (has == fair + 1 && drops > 0);
                if gives {
                    if has == fair + 1 {
                        drops -= 1;
                    }
                    *giver -= 1;
                    *entry = newcomer;
                    *home = NONE;
                    taken += 1;
                }
            }
        }
        // What it did not take back stays where it is: those clients' queue is now their home.
        for home in home.iter_mut().filter(|home| **home == newcomer) {
            *home = NONE;
        }
        self.set_count(index, taken);
        self.finish_move()
    }

    /// Registers the lowest free queue (see [`Self::first_free_queue`]); returns it and the
    /// number of buckets moved.
    pub fn register_any(&mut self) -> Result<(Slot, usize), TableError> {
        let queue = self.first_free_queue().ok_or(TableError::NoFreeSlot)?;
        let moved = self.register(queue)?;
        Ok((queue, moved))
    }

    /// Deregisters `queue` (its process left) and rebalances: only the leaving queue's buckets
    /// move, each to a remaining queue below its new fair share (the lowest such queue first), or
    /// to the normal queue when `queue` was the last one. Returns the number of buckets moved,
    /// which is the number `queue` owned: the least possible, since nobody else may own them.
    pub fn deregister(&mut self, queue: Slot) -> Result<usize, TableError> {
        let index = self.check_queue(queue)?;
        if !self.is_registered(queue) {
            return Err(TableError::NotRegistered);
        }
        set_bit(&mut self.registered, index, false);
        self.n_registered -= 1;
        if self.is_on_standby(queue) {
            // It owns nothing: nothing moves.
            set_bit(&mut self.standby, index, false);
            self.n_standby -= 1;
            self.prev = self.owner;
            return Ok(self.finish_move());
        }
        Ok(self.leave(index))
    }

    /// Spreads the buckets of queue `index`, which just stopped taking buckets, over the queues
    /// that still take them.
    fn leave(&mut self, index: usize) -> usize {
        self.prev = self.owner;
        self.set_count(index, 0);
        let leaving = index as u16 + 1;

        let n = self.active_count();
        if n == 0 {
            self.home = self.owner;
            self.owner = [NONE; B];
            return self.finish_move();
        }

        let (fair, extra) = (B / n, B % n);
        // The remaining queues have `F` or `F + 1` buckets (F = floor(B / (n + 1)) <= fair) and
        // must end with `fair` or `fair + 1`, exactly `extra` of them with `fair + 1`. Those
        // already at `fair + 1` keep it; `spare` more may grow to it. The leaving queue's count
        // is exactly what fills everybody up, so the scan below never runs out of takers.
        let full = self
            .count
            .iter()
            .filter(|&&count| usize::from(count) > fair)
            .count();
        let mut spare = extra.saturating_sub(full);
        let n_queues = self.n_queues;
        let Self {
            owner,
            home,
            count,
            registered,
            standby,
            ..
        } = self;
        // A queue skipped by the cursor can never take again (counts only grow and `spare` only
        // shrinks), so one cursor over the queues serves all the buckets: O(B + queues).
        let mut cursor = 0;
        for (entry, home) in owner
            .iter_mut()
            .zip(home.iter_mut())
            .filter(|(entry, _)| **entry == leaving)
        {
            // Its clients were this queue's last: they go back to it if it comes back.
            *home = leaving;
            let taker = loop {
                if cursor >= n_queues {
                    break None;
                }
                if is_set(registered, cursor) && !is_set(standby, cursor) {
                    let has = count
                        .get(cursor)
                        .map_or(usize::MAX, |&count| usize::from(count));
                    if has < fair || (has == fair && spare > 0) {
                        break Some(cursor);
                    }
                }
                cursor += 1;
            };
            match taker.and_then(|taker| Some((taker, count.get_mut(taker)?))) {
                Some((taker, has)) => {
                    if usize::from(*has) == fair {
                        spare -= 1;
                    }
                    *has += 1;
                    // `taker < n_queues <= MAX_QUEUES`, so `taker + 1` fits and is not `NONE`.
                    *entry = taker as u16 + 1;
                }
                // Unreachable while the invariants hold; the normal queue is always safe.
                None => *entry = NONE,
            }
        }
        self.finish_move()
    }

    /// The number of buckets whose owner the last successful operation changed.
    pub fn moved_count(&self) -> usize {
        self.moved
    }

    /// The buckets whose owner the last successful operation changed, in bucket
    /// order, so that connections already waiting in a queue can follow their bucket.
    pub fn moves(&self) -> impl Iterator<Item = Move> + '_ {
        self.prev
            .iter()
            .zip(self.owner.iter())
            .enumerate()
            .filter(|(_, (before, after))| before != after)
            .map(|(bucket, (&before, &after))| Move {
                bucket,
                from: decode(before),
                to: decode(after),
            })
    }

    fn check_queue(&self, queue: Slot) -> Result<usize, TableError> {
        let index = usize::from(queue);
        if index < self.n_queues {
            Ok(index)
        } else {
            Err(TableError::SlotOutOfRange)
        }
    }

    fn set_count(&mut self, index: usize, buckets: usize) {
        if let Some(count) = self.count.get_mut(index) {
            // `buckets <= B <= MAX_BUCKETS` fits a `u16`.
            *count = buckets as u16;
        }
    }

    /// Records how many buckets the operation moved (counted, so it is exact by definition).
    fn finish_move(&mut self) -> usize {
        self.moved = self.moves().count();
        self.moved
    }
}

#[cfg(test)]
#[path = "../tests/unit/table.rs"]
mod tests;
