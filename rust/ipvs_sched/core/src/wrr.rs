// SPDX-License-Identifier: GPL-2.0
//! Weighted round-robin stepping, exactly as the kernel's `ip_vs_wrr.c` steps.
//!
//! Pure code: meant to be compiled into a kernel module and, unchanged, into the host crate
//! `ipvs-sched-core` where it is property-tested against a reference model.
//!
//! # The algorithm (C's comment, in short)
//!
//! `di` is the gcd of the positive weights and `mw` the largest weight minus `di - 1`. The
//! current weight `cw` starts at `mw`; a pass walks the list and takes each server with
//! `weight >= cw` (and not overloaded); after a pass `cw` drops by `di`, and below 1 it starts
//! again at `mw`. So the last pass of a cycle is at `cw = 1`. Weights 4, 3, 2 for A, B, C give
//! the cycle `A AB ABC ABC`.
//!
//! # Positions
//!
//! C keeps `mark->cl`, a pointer to the last chosen `ip_vs_dest` (or to the list head), and
//! the next call continues the walk after it. [`Mark`] keeps a [`Position`]: the list head or
//! a *cursor* `C` that the caller's walk handed out with the server ([`Mark::schedule`] takes
//! a function that walks the list after a position). The kernel module's cursor is the list
//! node itself, as in C, so a call continues where the last one stopped without walking the
//! list from its head; the host tests use the index into a slice.
//!
//! C calls `ip_vs_wrr_dest_changed()` on every add, delete and edit, and it resets `cl` to the
//! list head; [`Mark::dest_changed`] does the same, so a cursor is never used after the list
//! it came from changed (the kernel glue also refuses a cursor taken before the list last
//! changed: it walks from the head instead). With index cursors, the window C has too (IPVS
//! links or unlinks the server before it calls the callback, and the packet path may schedule
//! in between) can make the pick made in that window repeat or skip one step of the rotation;
//! it never chooses a server C's rules exclude and never panics (an index past the end of the
//! list just means "at the end").
//!
//! One more deliberate difference in cost, not in result: when no server can take a
//! connection until `cw` has gone down by many steps (say one overloaded server of weight
//! 1 000 000 next to one of weight 1), C walks the whole list once per step. After the first
//! pass over the whole list that finds nothing, [`Mark::schedule`] computes how many of the
//! next passes would find nothing too and skips them in one go; the skipped
//! passes are exactly those that can neither choose a server nor change `last_pass`,
//! `restarted` or `stop`, so the result and the state left behind are C's. (This reads the
//! list once more, and assumes, like any single pass, that the weights do not change during
//! the call.)
#![forbid(unsafe_code)]

/// What the wrr choice reads of one real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestWeight {
    /// `ip_vs_dest.weight`; 0 means quiesced (no new connections).
    pub weight: i32,
    /// `IP_VS_DEST_F_OVERLOAD` is set (the server reached its upper connection threshold).
    pub overloaded: bool,
}

/// Where the round-robin stands: C's `mark->cl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position<C = usize> {
    /// The list head: the next pass starts with the first server.
    Head,
    /// The server with this cursor (an index of the list, 0 = first, in the host tests; the
    /// list node in the kernel): the next pass starts after it.
    At(C),
}

/// Why [`Mark::schedule`] found no server; [`NoDest::message`] is C's log message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoDest {
    /// `mw == 0`: no server has a positive weight (C's `err_noavail`). The state is unchanged.
    NoneAvailable,
    /// Every pass down to `cw = 1` found nothing (C's `err_over`).
    AllOverloaded,
}

impl NoDest {
    /// The message C passes to `ip_vs_scheduler_err()`.
    pub fn message(self) -> &'static str {
        match self {
            NoDest::NoneAvailable => "no destination available",
            NoDest::AllOverloaded => "no destination available: all destinations are overloaded",
        }
    }
}

/// Per-service state of wrr: C's `struct ip_vs_wrr_mark`.
///
/// Invariants kept by every method: `di >= 1`, `0 <= mw`, `0 <= cw <= mw` (`cw == 0` only while
/// `mw == 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark<C = usize> {
    cl: Position<C>,
    cw: i32,
    mw: i32,
    di: i32,
}

/// `gcd()` of `lib/math/gcd.c` (C computes it on `unsigned long`; the gcd is unique, so
/// Euclid's algorithm gives the same value). `gcd(0, b) == b`, `gcd(a, 0) == a`.
pub const fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        let r = a % b;
        a = b;
        b = r;
    }
    a
}

/// `ip_vs_wrr_gcd_weight()`: the gcd of the positive weights, 1 when there is none.
pub fn gcd_weight<W: IntoIterator<Item = i32>>(weights: W) -> i32 {
    gcd_and_max(weights).0
}

/// `ip_vs_wrr_max_weight()`: the largest weight, at least 0.
pub fn max_weight<W: IntoIterator<Item = i32>>(weights: W) -> i32 {
    gcd_and_max(weights).1
}

/// Both of the above in one walk of the list.
fn gcd_and_max<W: IntoIterator<Item = i32>>(weights: W) -> (i32, i32) {
    let mut g: u32 = 0;
    let mut max = 0;
    for weight in weights {
        if weight > 0 {
            // `weight as u32` is exact for a positive i32.
            g = if g > 0 {
                gcd(weight as u32, g)
            } else {
                weight as u32
            };
        }
        if weight > max {
            max = weight;
        }
    }
    // `g` divides a positive i32, so it fits in one; 0 only when no weight is positive.
    let g = if g == 0 { 1 } else { g as i32 };
    (g, max)
}

impl<C: Copy + Eq> Mark<C> {
    /// `ip_vs_wrr_init_svc()`: the state of a new service whose servers have `weights`, in list
    /// order: at the head, `cw = mw`.
    pub fn new<W: IntoIterator<Item = i32>>(weights: W) -> Self {
        let (di, max) = gcd_and_max(weights);
        // di <= max when max > 0, and di == 1 when max == 0: no overflow, mw >= 0.
        let mw = max.wrapping_sub(di.wrapping_sub(1));
        Mark {
            cl: Position::Head,
            cw: mw,
            mw,
            di,
        }
    }

    /// `ip_vs_wrr_dest_changed()`, which C calls for `add_dest`, `del_dest` and `upd_dest`:
    /// back to the list head, `di` and `mw` recomputed from the servers' current `weights`,
    /// and `cw` kept but clamped to `mw` (or set to `mw` if it was 0) or, when `di > 1`,
    /// moved onto the new grid of levels: `cw = (cw / di) * di + 1`.
    pub fn dest_changed<W: IntoIterator<Item = i32>>(&mut self, weights: W) {
        let (di, max) = gcd_and_max(weights);
        self.cl = Position::Head;
        self.di = di;
        self.mw = max.wrapping_sub(di.wrapping_sub(1));
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            // 0 < cw <= mw here, so the result is in 1..=mw (mw = 1 mod di): no overflow.
            // `checked_div`: `di >= 1` always (see `gcd_and_max`), but the kernel must not
            // carry a panic path for a division by zero.
            let levels = self.cw.checked_div(self.di).unwrap_or(0);
            self.cw = levels.wrapping_mul(self.di).wrapping_add(1);
        }
    }

    /// `ip_vs_wrr_schedule()`: the next server of the rotation, or why there is none.
    ///
    /// `walk(from)` gives the servers of the service's list after `from` (all of them after
    /// [`Position::Head`]), in list order, each with its cursor; it is called for every pass
    /// (C's loop walks the list more than once). `weight_of` reads a server's weight and
    /// overload flag when the pass examines it.
    ///
    /// Like C: the walk continues after the current position with the current `cw`; a server
    /// is taken when it is not overloaded and `weight >= cw`. At the end of the list `cw` goes
    /// down by `di`; below 1 it goes back to `mw` and, if the walk started at the head or had
    /// already done its last pass (`cw <= di`), the call fails leaving the position at the
    /// head. If the walk started at a server, the last pass after the wrap stops after that
    /// server (C's `stop`) and a failure leaves the position there, with `cw` of that pass.
    /// When `mw == 0` the call fails and changes nothing.
    pub fn schedule<T, I, F, W>(&mut self, walk: F, weight_of: W) -> Result<T, NoDest>
    where
        I: Iterator<Item = (C, T)>,
        F: Fn(Position<C>) -> I,
        W: Fn(&T) -> DestWeight,
    {
        if self.mw == 0 {
            return Err(NoDest::NoneAvailable);
        }
        let last = self.cl;
        // The first pass continues after the current position, at the current weight, with
        // nowhere to stop before the list head: most calls end in it, and need none of the
        // state of the passes after a wrap.
        for (c, dest) in walk(last) {
            if self.takes(&weight_of(&dest)) {
                self.cl = Position::At(c);
                return Ok(dest);
            }
        }
        let mut stop: Option<C> = None;
        let mut last_pass = false;
        let mut restarted = false;
        // Largest weight of a server that is not overloaded, read once when first needed.
        let mut best: Option<i32> = None;
        // Whether a pass over the whole list found nothing: only then are passes skipped,
        // so that a call that wraps normally does not read the list once more.
        let mut fruitless_full_pass = last == Position::Head;
        loop {
            // The walk reached the list head.
            self.cw = self.cw.wrapping_sub(self.di);
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last == Position::Head {
                    self.cl = Position::Head;
                    return Err(NoDest::AllOverloaded);
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted {
                if let Position::At(c) = last {
                    stop = Some(c);
                }
            }
            if !last_pass && stop.is_none() && fruitless_full_pass {
                // The next pass walks the whole list at cw > di. Skip the passes that would
                // find nothing and leave cw above di; see the module documentation.
                let best = *best.get_or_insert_with(|| {
                    walk(Position::Head)
                        .map(|(_, dest)| weight_of(&dest))
                        .filter(|d| !d.overloaded)
                        .map(|d| d.weight)
                        .max()
                        .unwrap_or(0)
                });
                let skip = dead_passes(self.cw, self.di, best);
                if skip > 0 {
                    // skip <= (cw - 1) / di, so cw stays >= 1.
                    self.cw = self.cw.wrapping_sub(skip.wrapping_mul(self.di));
                    last_pass = self.cw <= self.di;
                    if last_pass && restarted {
                        if let Position::At(c) = last {
                            stop = Some(c);
                        }
                    }
                }
            }
            for (c, dest) in walk(Position::Head) {
                if self.takes(&weight_of(&dest)) {
                    self.cl = Position::At(c);
                    return Ok(dest);
                }
                if stop == Some(c) {
                    self.cl = Position::At(c);
                    return Err(NoDest::AllOverloaded);
                }
            }
            fruitless_full_pass = true;
        }
    }

    /// Whether the current pass takes a server: not overloaded, and its weight reaches the
    /// current level.
    fn takes(&self, d: &DestWeight) -> bool {
        !d.overloaded && d.weight >= self.cw
    }

    /// [`Mark::schedule`] without the reason for a failure.
    pub fn pick<T, I, F, W>(&mut self, walk: F, weight_of: W) -> Option<T>
    where
        I: Iterator<Item = (C, T)>,
        F: Fn(Position<C>) -> I,
        W: Fn(&T) -> DestWeight,
    {
        self.schedule(walk, weight_of).ok()
    }

    /// C's `mark->cl`.
    pub fn position(&self) -> Position<C> {
        self.cl
    }

    /// C's `mark->cw`, the current weight level.
    pub fn cw(&self) -> i32 {
        self.cw
    }

    /// C's `mark->mw`: the largest weight minus `di - 1`, the first level of a cycle.
    pub fn mw(&self) -> i32 {
        self.mw
    }

    /// C's `mark->di`: the gcd of the positive weights (1 if none), the step between levels.
    pub fn di(&self) -> i32 {
        self.di
    }
}

/// How many full passes starting at level `cw > di` find nothing and end with a level still
/// above `di`, plus the one after which the level reaches `di` or `best`: the number of times
/// `cw` can go down by `di` without skipping a pass that could choose a server (`best` is the
/// largest weight of a server that is not overloaded) or a change of `last_pass`.
fn dead_passes(cw: i32, di: i32, best: i32) -> i32 {
    let (cw, di, best) = (i64::from(cw), i64::from(di), i64::from(best));
    // `di >= 1` always; `checked_div` keeps a panic path out of the kernel all the same.
    let div = |n: i64| n.checked_div(di).unwrap_or(0);
    // Smallest k with cw - k * di <= di: the pass that will be the last one.
    let to_last = div(cw - 1);
    // Smallest k with cw - k * di <= best: the first pass that finds a server.
    let to_found = if best >= cw {
        0
    } else if best >= 1 {
        div(cw - best + di - 1)
    } else {
        to_last
    };
    // Both are at most cw, which fits in i32.
    to_last.min(to_found) as i32
}
