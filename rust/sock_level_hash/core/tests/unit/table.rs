// SPDX-License-Identifier: GPL-2.0 OR MIT
//! Unit tests of `src/table.rs`: hand-worked cases of the indirection table, bucket by bucket
//! (the property tests against a model are `tests/table.rs`).
//!
//! Outside `src/` because the kernel module includes `src/table.rs` by path.

use super::*;

fn owners<const B: usize>(table: &IndirectionTable<B>) -> [Option<Slot>; B] {
    core::array::from_fn(|bucket| table.owner(bucket))
}

#[test]
fn empty_table_sends_everything_to_the_normal_queue() {
    let table = IndirectionTable::<256>::new(4).unwrap();
    assert!((0..=u32::from(u16::MAX)).all(|hash| table.lookup(hash).is_none()));
    assert_eq!(table.first_free_queue(), Some(0));
    assert_eq!(table.moves().count(), 0);
}

#[test]
fn too_many_queues_is_refused() {
    assert_eq!(
        IndirectionTable::<256>::new(MAX_QUEUES + 1),
        Err(TableError::TooManySlots)
    );
    assert!(IndirectionTable::<256>::new(MAX_QUEUES).is_ok());
}

#[test]
fn powers_of_two_split_exactly() {
    let mut table = IndirectionTable::<256>::new(64).unwrap();
    assert_eq!(table.register(0), Ok(256));
    assert_eq!(table.register(1), Ok(128));
    assert_eq!(table.register(2), Ok(85));
    assert_eq!(table.register(3), Ok(64));
    for queue in 0..4 {
        assert_eq!(table.bucket_count(queue), 64);
    }
    assert_eq!(table.deregister(1), Ok(64));
    let counts = [0, 2, 3].map(|queue| table.bucket_count(queue));
    assert_eq!(counts.iter().sum::<usize>(), 256);
    assert!(counts.iter().all(|&count| count == 85 || count == 86));
    assert!(table.moves().all(|m| m.from == Some(1)));
}

#[test]
fn refused_operations_change_nothing() {
    let mut table = IndirectionTable::<16>::new(2).unwrap();
    table.register(0).unwrap();
    let before = table.clone();
    assert_eq!(table.register(0), Err(TableError::AlreadyRegistered));
    assert_eq!(table.register(2), Err(TableError::SlotOutOfRange));
    assert_eq!(table.deregister(1), Err(TableError::NotRegistered));
    assert_eq!(table, before);
    table.register(1).unwrap();
    assert_eq!(table.register_any(), Err(TableError::NoFreeSlot));
}

#[test]
fn zeroed_table_reset_in_place_equals_new() {
    // What the kernel gets from a zeroing allocator (every field is an integer array).
    let mut table = IndirectionTable::<64>::new(0).unwrap();
    assert_eq!(table.register(0), Err(TableError::SlotOutOfRange));
    table.reset(8).unwrap();
    assert_eq!(table, IndirectionTable::<64>::new(8).unwrap());
    table.register(3).unwrap();
    table.reset(8).unwrap();
    assert_eq!(owners(&table), [None; 64]);
    assert_eq!(table.registered_count(), 0);
}

#[test]
fn more_queues_than_buckets() {
    let mut table = IndirectionTable::<2>::new(4).unwrap();
    assert_eq!(table.register_any(), Ok((0, 2)));
    assert_eq!(table.register_any(), Ok((1, 1)));
    // A third process gets no bucket: taking one would leave someone else with none.
    assert_eq!(table.register_any(), Ok((2, 0)));
    assert_eq!(table.deregister(0), Ok(1));
    assert_eq!(owners(&table), [Some(1), Some(2)]);
}
