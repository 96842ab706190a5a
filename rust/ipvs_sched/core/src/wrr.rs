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
//! the next call continues the walk after it. [`Levels::schedule`] takes that position as a
//! *cursor* `C`, the list head's or one that the caller's walk handed out with a server, and a
//! function that walks the list after a cursor. The kernel module's cursor is the list node
//! itself, as in C, so a call continues where the last one stopped without walking the list
//! from its head, and the head is a node like the others. [`Mark`] keeps a [`Position`], the
//! head or a cursor, beside its levels; the host tests use the index into a slice.
//!
//! C calls `ip_vs_wrr_dest_changed()` on every add, delete and edit, and it resets `cl` to the
//! list head; [`Mark::dest_changed`] does the same, so a cursor is never used after the list
//! it came from changed (in the kernel the position is the glue's place of the service, which
//! the module puts back at the head itself on each change, and which the glue also moves off
//! a deleted server, as C's rr does). With the host tests' index cursors (not the kernel's
//! nodes), the window C has too (IPVS links or unlinks the server before it calls the
//! callback, and the packet path may schedule in between) can make the pick made in that
//! window repeat or skip one step of the rotation; it never chooses a server C's rules
//! exclude and never panics (an index past the end of the list just means "at the end").
//!
//! One more deliberate difference in cost, not in result: when no server can take a
//! connection until `cw` has gone down by many steps (say one overloaded server of weight
//! 1 000 000 next to one of weight 1), C walks the whole list once per step. After the first
//! pass over the whole list that finds nothing, [`Levels::schedule`] computes how many of the
//! next passes would find nothing too and skips them in one go; the skipped
//! passes are exactly those that can neither choose a server nor change `last_pass`,
//! `restarted` or `stop`, so the result and the state left behind are C's. (This reads the
//! list once more, and assumes, like any single pass, that the weights do not change during
//! the call.)
#![forbid(unsafe_code)]

use super::wlc::ServerLoad;

/// What the wrr choice reads of one real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestWeight {
    /// `ip_vs_dest.weight`; 0 means quiesced (no new connections).
    pub weight: i32,
    /// `IP_VS_DEST_F_OVERLOAD` is set (the server reached its upper connection threshold).
    pub overloaded: bool,
}

/// What the wrr choice reads of one real server when a pass examines it: the overload flag
/// first, and the weight only of a server that is not overloaded, in C's order.
pub trait WrrLoad {
    /// `IP_VS_DEST_F_OVERLOAD` is set.
    fn overloaded(&self) -> bool;
    /// `ip_vs_dest.weight`.
    fn weight(&self) -> i32;
}

impl WrrLoad for DestWeight {
    fn overloaded(&self) -> bool {
        self.overloaded
    }
    fn weight(&self) -> i32 {
        self.weight
    }
}

impl<L: ServerLoad> WrrLoad for L {
    fn overloaded(&self) -> bool {
        ServerLoad::overloaded(self)
    }
    fn weight(&self) -> i32 {
        ServerLoad::weight(self)
    }
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

/// Per-service state of wrr: C's `struct ip_vs_wrr_mark` with its position `cl`.
///
/// The kernel module keeps the [`Levels`] alone and the position apart, in the glue's place
/// of the service; a `Mark` is the two together, as the host tests use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark<C = usize> {
    cl: Position<C>,
    levels: Levels,
}

/// C's `struct ip_vs_wrr_mark` but its position: the current, first and step weight levels.
///
/// Invariants kept by every method: `di >= 1`, `0 <= mw`, `0 <= cw <= mw` (`cw == 0` only while
/// `mw == 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Levels {
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

impl Levels {
    /// `ip_vs_wrr_init_svc()`: the levels of a new service whose servers have `weights`, in
    /// list order: `cw = mw`.
    pub fn new<W: IntoIterator<Item = i32>>(weights: W) -> Self {
        let (di, max) = gcd_and_max(weights);
        // di <= max when max > 0, and di == 1 when max == 0: no overflow, mw >= 0.
        let mw = max.wrapping_sub(di.wrapping_sub(1));
        Levels { cw: mw, mw, di }
    }

    /// `ip_vs_wrr_dest_changed()` but the return of the position to the head (the caller's):
    /// `di` and `mw` recomputed from the servers' current `weights`, and `cw` kept but clamped
    /// to `mw` (or set to `mw` if it was 0) or, when `di > 1`, moved onto the new grid of
    /// levels: `cw = (cw / di) * di + 1`.
    pub fn dest_changed<W: IntoIterator<Item = i32>>(&mut self, weights: W) {
        let (di, max) = gcd_and_max(weights);
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

    /// `ip_vs_wrr_schedule()` from the position `last`: the next server of the rotation (or
    /// `None`, see [`Levels::refusal`] for why) and the new position.
    ///
    /// `walk(from)` gives the servers of the service's list after the position `from` (all of
    /// them after `head`), in list order, each with its cursor; it is called for every pass
    /// (C's loop walks the list more than once). `weight_of` gives what a pass reads of a
    /// server ([`WrrLoad`]), when it examines it.
    ///
    /// Like C, statement for statement: the walk continues after `last` with the current `cw`;
    /// a server is taken when it is not overloaded and `weight >= cw`. At the end of the list
    /// `cw` goes down by `di`; below 1 it goes back to `mw` and, if the walk started at the
    /// head or had already done its last pass (`cw <= di`), the call fails, the position at
    /// the head. If the walk started at a server, the last pass after the wrap stops after
    /// that server (C's `stop`) and a failure leaves the position there, with `cw` of that
    /// pass. When `mw == 0` the call fails and changes nothing.
    #[inline]
    pub fn schedule<C, T, L, I, F, W>(
        &mut self,
        head: C,
        last: C,
        walk: F,
        weight_of: W,
    ) -> (C, Option<T>)
    where
        C: Copy + Eq,
        L: WrrLoad,
        I: Iterator<Item = (C, T)>,
        F: Fn(C) -> I,
        W: Fn(&T) -> L,
    {
        if self.mw == 0 {
            return (last, None);
        }
        // The first pass continues after `last` at the current level, with nowhere to stop
        // before the list head (C's `stop` is NULL until a wrap): most calls end in it.
        for (c, dest) in walk(last) {
            let d = weight_of(&dest);
            if !d.overloaded() && d.weight() >= self.cw {
                return (c, Some(dest));
            }
        }
        if last != head {
            let cw = self.cw.wrapping_sub(self.di);
            if cw > 0 {
                // The first wrap, when it is the usual one: a pass that started at a server
                // reached the head and `cw` stays above 0, so there is no restart, no `stop`
                // and no pass to skip. The next pass walks the whole list, in line.
                self.cw = cw;
                for (c, dest) in walk(head) {
                    let d = weight_of(&dest);
                    if !d.overloaded() && d.weight() >= cw {
                        return (c, Some(dest));
                    }
                }
                return self.after_wrap(head, last, walk, weight_of, true, cw <= self.di);
            }
        }
        self.after_wrap(head, last, walk, weight_of, last == head, false)
    }

    /// Why [`Levels::schedule`] just returned `None`: C's `err_noavail` when no server has a
    /// positive weight (`mw == 0`, which only a change of the servers changes), `err_over`
    /// otherwise.
    pub fn refusal(&self) -> NoDest {
        if self.mw == 0 {
            NoDest::NoneAvailable
        } else {
            NoDest::AllOverloaded
        }
    }

    /// The rest of [`Levels::schedule`] once a pass reached the list head without a restart:
    /// C's loop from its `mark->cw -= mark->di`, after a pass that walked the whole list or
    /// not (`full_pass`) with `last_pass` as it left it. Out of line, so that the passes where
    /// most calls end keep the few registers C's do: what it returns fits in two.
    #[inline(never)]
    fn after_wrap<C, T, L, I, F, W>(
        &mut self,
        head: C,
        last: C,
        walk: F,
        weight_of: W,
        mut full_pass: bool,
        mut last_pass: bool,
    ) -> (C, Option<T>)
    where
        C: Copy + Eq,
        L: WrrLoad,
        I: Iterator<Item = (C, T)>,
        F: Fn(C) -> I,
        W: Fn(&T) -> L,
    {
        // C's `stop`, whose NULL is the head here: a walk never hands out the head.
        let mut stop = head;
        let mut restarted = false;
        loop {
            // The walk reached the list head.
            self.cw = self.cw.wrapping_sub(self.di);
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last == head {
                    return (head, None);
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last != head {
                stop = last;
            }
            if full_pass && !last_pass && stop == head {
                // A pass over the whole list found nothing, and the next one walks it all at
                // cw > di: skip the passes that would find nothing too (module documentation).
                last_pass = self.skip_dead_passes(walk(head), &weight_of);
                if last_pass && restarted && last != head {
                    stop = last;
                }
            }
            for (c, dest) in walk(head) {
                let d = weight_of(&dest);
                if !d.overloaded() && d.weight() >= self.cw {
                    return (c, Some(dest));
                }
                if c == stop {
                    return (c, None);
                }
            }
            full_pass = true;
        }
    }

    /// Lowers `cw` past the passes that cannot choose a server, starting at a level above
    /// `di`; `all` walks the whole list. Returns `last_pass` for the level it leaves. Out of
    /// line: only a pass over the whole list that found nothing leads here.
    #[cold]
    #[inline(never)]
    fn skip_dead_passes<C, T, L, I, W>(&mut self, all: I, weight_of: &W) -> bool
    where
        L: WrrLoad,
        I: Iterator<Item = (C, T)>,
        W: Fn(&T) -> L,
    {
        // The largest weight of a server that is not overloaded.
        let best = all
            .map(|(_, dest)| weight_of(&dest))
            .filter(|d| !d.overloaded())
            .map(|d| d.weight())
            .max()
            .unwrap_or(0);
        let skip = dead_passes(self.cw, self.di, best);
        // skip <= (cw - 1) / di, so cw stays >= 1.
        self.cw = self.cw.wrapping_sub(skip.wrapping_mul(self.di));
        self.cw <= self.di
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

impl<C: Copy + Eq> Mark<C> {
    /// `ip_vs_wrr_init_svc()`: the state of a new service whose servers have `weights`, in list
    /// order: at the head, `cw = mw`.
    pub fn new<W: IntoIterator<Item = i32>>(weights: W) -> Self {
        Mark {
            cl: Position::Head,
            levels: Levels::new(weights),
        }
    }

    /// `ip_vs_wrr_dest_changed()`, which C calls for `add_dest`, `del_dest` and `upd_dest`:
    /// back to the list head, and [`Levels::dest_changed`].
    pub fn dest_changed<W: IntoIterator<Item = i32>>(&mut self, weights: W) {
        self.cl = Position::Head;
        self.levels.dest_changed(weights);
    }

    /// `ip_vs_wrr_schedule()`: [`Levels::schedule`] from the mark's position, which it moves.
    /// `walk(from)` gives the servers after `from` (all of them after [`Position::Head`]).
    pub fn schedule<T, I, F, W>(&mut self, walk: F, weight_of: W) -> Result<T, NoDest>
    where
        I: Iterator<Item = (C, T)>,
        F: Fn(Position<C>) -> I,
        W: Fn(&T) -> DestWeight,
    {
        let walk = |from| walk(from).map(|(c, dest)| (Position::At(c), dest));
        let (cl, chosen) = self
            .levels
            .schedule(Position::Head, self.cl, walk, weight_of);
        self.cl = cl;
        chosen.ok_or_else(|| self.levels.refusal())
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

    /// The levels, without the position.
    pub fn levels(&self) -> Levels {
        self.levels
    }

    /// C's `mark->cw`, the current weight level.
    pub fn cw(&self) -> i32 {
        self.levels.cw
    }

    /// C's `mark->mw`: the largest weight minus `di - 1`, the first level of a cycle.
    pub fn mw(&self) -> i32 {
        self.levels.mw
    }

    /// C's `mark->di`: the gcd of the positive weights (1 if none), the step between levels.
    pub fn di(&self) -> i32 {
        self.levels.di
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
