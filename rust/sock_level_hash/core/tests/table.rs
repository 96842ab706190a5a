//! The indirection table against a reference model: the set of registered queues.
//!
//! After every step of a random register/deregister sequence, the table must map every bucket
//! to a registered queue (to none when nobody is registered), keep the queues' bucket counts
//! within one of each other, and have moved the fewest buckets possible:
//! - registering a queue when others are registered moves exactly `floor(B / n)` buckets (n
//!   counting the newcomer), all to the newcomer: it starts with none and a balanced table
//!   gives it at least `floor(B / n)`, while `floor` (rather than `ceil`) is always reachable
//!   without moving buckets between old queues; the first queue takes all `B` buckets;
//! - deregistering moves exactly the leaving queue's buckets, and nothing else: every other
//!   client keeps its process;
//! - a queue on standby (demoted: its process does not keep up) stays registered but owns no
//!   bucket; demoting moves exactly its buckets, promoting moves what registering would.

use proptest::prelude::*;
use sock_level_hash_core::table::{
    IndirectionTable, Move, Slot, TableError, MAX_BUCKETS, MAX_QUEUES,
};
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug)]
enum Op {
    Register(Slot),
    Deregister(Slot),
    RegisterAny,
    Demote(Slot),
    Promote(Slot),
}

/// The reference: which queues are registered, and which of those are on standby.
#[derive(Default)]
struct Model {
    registered: BTreeSet<Slot>,
    standby: BTreeSet<Slot>,
}

impl Model {
    fn active(&self) -> BTreeSet<Slot> {
        self.registered.difference(&self.standby).copied().collect()
    }
}

fn owners<const B: usize>(table: &IndirectionTable<B>) -> Vec<Option<Slot>> {
    (0..B).map(|bucket| table.owner(bucket)).collect()
}

fn count_of(owners: &[Option<Slot>], queue: Slot) -> usize {
    owners.iter().filter(|&&owner| owner == Some(queue)).count()
}

/// Applies `op` to the table and to the model, checking the outcome and every invariant.
fn step<const B: usize>(
    table: &mut IndirectionTable<B>,
    model: &mut Model,
    op: Op,
) -> Result<(), TestCaseError> {
    let n_queues = table.n_queues();
    let before = table.clone();
    let owners_before = owners(table);
    let lowest_free = (0..n_queues as Slot).find(|queue| !model.registered.contains(queue));

    // What the model says should happen: (queue, joining?) or the error.
    let in_range = |queue: Slot| usize::from(queue) < n_queues;
    let expected: Result<(Slot, bool), TableError> = match op {
        Op::Register(queue) if !in_range(queue) => Err(TableError::SlotOutOfRange),
        Op::Register(queue) if model.registered.contains(&queue) => {
            Err(TableError::AlreadyRegistered)
        }
        Op::Register(queue) => Ok((queue, true)),
        Op::Deregister(queue) | Op::Demote(queue) | Op::Promote(queue) if !in_range(queue) => {
            Err(TableError::SlotOutOfRange)
        }
        Op::Deregister(queue) | Op::Demote(queue) | Op::Promote(queue)
            if !model.registered.contains(&queue) =>
        {
            Err(TableError::NotRegistered)
        }
        Op::Deregister(queue) => Ok((queue, false)),
        Op::Demote(queue) if model.standby.contains(&queue) => Err(TableError::OnStandby),
        Op::Demote(queue) => Ok((queue, false)),
        Op::Promote(queue) if !model.standby.contains(&queue) => Err(TableError::NotOnStandby),
        Op::Promote(queue) => Ok((queue, true)),
        Op::RegisterAny => lowest_free
            .map(|queue| (queue, true))
            .ok_or(TableError::NoFreeSlot),
    };
    let result = match op {
        Op::Register(queue) => table.register(queue),
        Op::Deregister(queue) => table.deregister(queue),
        Op::Demote(queue) => table.demote(queue),
        Op::Promote(queue) => table.promote(queue),
        Op::RegisterAny => table.register_any().map(|(queue, moved)| {
            assert_eq!(Some(queue), lowest_free);
            moved
        }),
    };

    let (queue, joining) = match expected {
        Err(error) => {
            prop_assert_eq!(result, Err(error));
            // A refused operation changes nothing, not even the record of the last moves.
            prop_assert_eq!(&*table, &before);
            return Ok(());
        }
        Ok(expected) => expected,
    };
    let moved = result.map_err(|e| TestCaseError::fail(format!("{op:?} refused: {e:?}")))?;
    let minimal = if joining {
        model.registered.insert(queue);
        model.standby.remove(&queue);
        if model.active().len() == 1 {
            B
        } else {
            B / model.active().len()
        }
    } else {
        if matches!(op, Op::Demote(_)) {
            model.standby.insert(queue);
        } else {
            model.registered.remove(&queue);
            model.standby.remove(&queue);
        }
        count_of(&owners_before, queue)
    };
    let active = model.active();
    prop_assert_eq!(moved, minimal, "{:?} with {} active", op, active.len());

    // Every bucket goes to a queue that takes buckets, or to the normal queue when none does.
    let owners_after = owners(table);
    for owner in &owners_after {
        match owner {
            Some(owner) => prop_assert!(active.contains(owner), "bucket owned by {}", owner),
            None => prop_assert!(active.is_empty()),
        }
    }

    // Balanced: counts over the queues that take buckets differ by at most one.
    let mut all_counts = vec![0; n_queues];
    for owner in owners_after.iter().flatten() {
        all_counts[usize::from(*owner)] += 1;
    }
    let counts: Vec<usize> = active.iter().map(|&s| all_counts[usize::from(s)]).collect();
    if let (Some(max), Some(min)) = (counts.iter().max(), counts.iter().min()) {
        prop_assert!(max - min <= 1, "counts {:?}", counts);
    }
    for s in 0..n_queues as Slot {
        prop_assert_eq!(table.bucket_count(s), all_counts[usize::from(s)]);
        prop_assert_eq!(table.is_registered(s), model.registered.contains(&s));
        prop_assert_eq!(table.is_on_standby(s), model.standby.contains(&s));
    }
    prop_assert_eq!(table.registered_count(), model.registered.len());
    prop_assert_eq!(table.active_count(), active.len());
    prop_assert!(table
        .registered_queues()
        .eq(model.registered.iter().copied()));
    prop_assert_eq!(
        table.first_free_queue(),
        (0..n_queues as Slot).find(|s| !model.registered.contains(s))
    );

    // Only the buckets that had to move moved, and `moves()` reports exactly those.
    let changes: Vec<Move> = (0..B)
        .filter(|&b| owners_before[b] != owners_after[b])
        .map(|bucket| Move {
            bucket,
            from: owners_before[bucket],
            to: owners_after[bucket],
        })
        .collect();
    prop_assert_eq!(table.moves().collect::<Vec<_>>(), changes.clone());
    prop_assert_eq!(table.moved_count(), changes.len());
    prop_assert_eq!(changes.len(), moved);
    for change in &changes {
        if joining {
            // Everyone else keeps their clients unless feeding the newcomer.
            prop_assert_eq!(change.to, Some(queue));
        } else {
            // Exactly the leaving (or demoted) queue's clients move.
            prop_assert_eq!(change.from, Some(queue));
        }
    }
    if !joining {
        prop_assert_eq!(changes.len(), count_of(&owners_before, queue));
    }
    Ok(())
}

fn run<const B: usize>(n_queues: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut table = IndirectionTable::<B>::new(n_queues).unwrap();
    let mut model = Model::default();
    for &op in ops {
        step(&mut table, &mut model, op)?;
    }
    Ok(())
}

/// Random operations on queues `0..n_queues + 2` (so some are out of range).
fn ops(max_queue: Slot, len: usize) -> impl Strategy<Value = Vec<Op>> {
    let queues = 0..max_queue + 2;
    let op = prop_oneof![
        3 => queues.clone().prop_map(Op::Register),
        2 => queues.clone().prop_map(Op::Deregister),
        1 => Just(Op::RegisterAny),
        2 => queues.clone().prop_map(Op::Demote),
        2 => queues.prop_map(Op::Promote),
    ];
    prop::collection::vec(op, 0..len)
}

/// `n_queues` in `1..=max`, and operations on around that many queues.
fn scenario(max: usize, len: usize) -> impl Strategy<Value = (usize, Vec<Op>)> {
    (1..=max).prop_flat_map(move |n| (Just(n), ops(n as Slot, len)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    // Tiny tables: more processes than buckets, every remainder case.
    #[test]
    fn one_bucket((n, ops) in scenario(6, 40)) { run::<1>(n, &ops)?; }

    #[test]
    fn two_buckets((n, ops) in scenario(8, 60)) { run::<2>(n, &ops)?; }

    #[test]
    fn eight_buckets((n, ops) in scenario(20, 80)) { run::<8>(n, &ops)?; }

    #[test]
    fn sixteen_buckets((n, ops) in scenario(12, 80)) { run::<16>(n, &ops)?; }

    #[test]
    fn sixty_four_buckets((n, ops) in scenario(70, 120)) { run::<64>(n, &ops)?; }

    // The kernel's size.
    #[test]
    fn default_buckets((n, ops) in scenario(40, 120)) { run::<256>(n, &ops)?; }

    /// A hash goes where its bucket's owner says.
    #[test]
    fn lookup_follows_the_bucket(registered in prop::collection::btree_set(0..16 as Slot, 0..16), hash in any::<u32>()) {
        let mut table = IndirectionTable::<256>::new(16).unwrap();
        for queue in registered {
            table.register(queue).unwrap();
        }
        let bucket = IndirectionTable::<256>::bucket_of(hash);
        prop_assert_eq!(bucket, hash as usize % 256);
        prop_assert_eq!(table.lookup(hash), table.owner(bucket));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The full queue range and the largest table, with fewer cases (each step is O(B + queues)).
    #[test]
    fn all_queues((n, ops) in (1..=MAX_QUEUES).prop_flat_map(|n| (Just(n), ops(n as Slot, 300)))) {
        run::<256>(n, &ops)?;
    }

    #[test]
    fn largest_table((n, ops) in scenario(100, 150)) { run::<MAX_BUCKETS>(n, &ops)?; }
}

/// Filling every queue and emptying the table again, in scrambled order.
#[test]
fn fill_and_drain_every_queue() {
    let mut table = IndirectionTable::<256>::new(MAX_QUEUES).unwrap();
    let mut model = Model::default();
    for _ in 0..MAX_QUEUES {
        step(&mut table, &mut model, Op::RegisterAny).unwrap();
    }
    step(&mut table, &mut model, Op::RegisterAny).unwrap(); // NoFreeSlot
                                                            // 7 is coprime with 1024, so this visits every queue once.
    for i in 0..MAX_QUEUES {
        step(
            &mut table,
            &mut model,
            Op::Deregister((i * 7 % MAX_QUEUES) as Slot),
        )
        .unwrap();
    }
    assert!((0..256).all(|bucket| table.owner(bucket).is_none()));
}

/// After any history, a queue that leaves (or goes on standby) and comes straight back gets its
/// own buckets back: exactly, with every other bucket where it was, when the active queues
/// divide the buckets evenly; otherwise within one bucket per active queue (which queues keep
/// the remainder's extra bucket may change).
fn comes_back<const B: usize>(
    n_queues: usize,
    ops: &[Op],
    pick: usize,
    standby: bool,
) -> Result<(), TestCaseError> {
    let mut table = IndirectionTable::<B>::new(n_queues).unwrap();
    let mut model = Model::default();
    for &op in ops {
        step(&mut table, &mut model, op)?;
    }
    let active: Vec<Slot> = model.active().into_iter().collect();
    let Some(&queue) = active.get(pick % active.len().max(1)) else {
        return Ok(());
    };
    let before = owners(&table);
    let (leave, back) = if standby {
        (Op::Demote(queue), Op::Promote(queue))
    } else {
        (Op::Deregister(queue), Op::Register(queue))
    };
    step(&mut table, &mut model, leave)?;
    step(&mut table, &mut model, back)?;
    let after = owners(&table);
    let changed = (0..B).filter(|&b| before[b] != after[b]).count();
    if B.is_multiple_of(active.len()) {
        prop_assert_eq!(changed, 0, "{} active, {:?}", active.len(), back);
    } else {
        prop_assert!(
            changed <= active.len(),
            "{} changed, {} active",
            changed,
            active.len()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_returning_queue_gets_its_buckets_back(
        (n, ops) in scenario(40, 80), pick in any::<usize>(), standby in any::<bool>()
    ) {
        comes_back::<256>(n, &ops, pick, standby)?;
    }

    #[test]
    fn a_returning_queue_gets_its_buckets_back_tiny(
        (n, ops) in scenario(12, 60), pick in any::<usize>(), standby in any::<bool>()
    ) {
        comes_back::<8>(n, &ops, pick, standby)?;
    }
}

/// The bench's case: four workers, one dies and its replacement registers in the same queue:
/// nobody else's client moves, and every one of the dead worker's clients comes back.
#[test]
fn a_replacement_in_the_same_queue_moves_no_bystander() {
    let mut table = IndirectionTable::<256>::new(4).unwrap();
    for queue in 0..4 {
        table.register(queue).unwrap();
    }
    let before = owners(&table);
    table.deregister(1).unwrap();
    assert_eq!(table.register_any(), Ok((1, 64)));
    assert_eq!(owners(&table), before);
}

/// The kernel allocates the table zeroed (its glue declares it `Zeroable`): the all-zero bytes
/// must be the empty table, and every field a type for which they are a valid value.
#[test]
fn the_zeroed_table_is_the_empty_table() {
    // SAFETY: the test's claim; a field for which all-zero is invalid (a reference, a
    // `NonNull`, an enum without a zero variant) would make this undefined, and the glue's
    // `unsafe impl Zeroable` with it: keep every field an integer or an array of integers.
    let zeroed: IndirectionTable<256> = unsafe { std::mem::zeroed() };
    assert_eq!(zeroed, IndirectionTable::<256>::new(0).unwrap());
}
