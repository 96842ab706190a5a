// SPDX-License-Identifier: GPL-2.0 OR MIT
//! What `getsockopt` writes: the byte images of the uapi's three replies.
//!
//! `SO_SOCKLEVELHASH` reads back the `int` or `struct sock_level_hash` ([`config_reply`]),
//! `SO_SOCKADDLSPH` the caller's queue ([`registration_reply`]), `SO_SOCKLEVELHASH_INFO` an
//! [`InfoHeader`] (`struct sock_level_hash_info`) followed by one [`QueueEntry`] (`struct
//! sock_level_hash_queue`) per queue that fits. The kernel module fills these structs and
//! copies their bytes: the layouts are here only, where the host tests them field by field; the
//! user-space library reads the replies into these same structs and checks their layout.
//!
//! Native byte order, the fields in the order of the C structs, without padding: each C field
//! is aligned to its size after the ones before it, so the compiler puts none there either.
//!
//! Pure code, shared with the kernel module like the rest of this crate.
#![forbid(unsafe_code)]

use crate::options::{Config, Errno, CONFIG_STRUCT_LEN, CONFIG_STRUCT_LEN_V1};
use crate::table::Slot;

/// Size of the `int` that `SO_SOCKLEVELHASH` and `SO_SOCKADDLSPH` read back.
pub const INT_LEN: usize = 4;

/// Size of `struct sock_level_hash_info`.
pub const HEADER_LEN: usize = 40;

/// Size of `struct sock_level_hash_queue`.
pub const ENTRY_LEN: usize = 72;

/// What `SO_SOCKADDLSPH` reads back for a process that owns no queue of the listener.
pub const NOT_REGISTERED: i32 = -1;

/// `struct sock_level_hash_info`: the listener's setting and the normal queue's counters.
/// `#[repr(C)]` with the C struct's fields in order: the user-space library reads the replies
/// into this very struct.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InfoHeader {
    /// Total number of queues, whether or not all their entries fit the buffer.
    pub queues: u32,
    /// The [`crate::hash::HashFn`] number.
    pub hash: u32,
    /// The [`crate::hash::HashInput`] number.
    pub input: u32,
    /// Registered processes.
    pub registered: u32,
    /// Connections put in the normal queue.
    pub normal_queued: u64,
    /// Connections accepted from the normal queue.
    pub normal_accepted: u64,
    /// The bounded wait (0: strict).
    pub max_wait_ms: u32,
    /// The most connections a queue holds now; 0: no limit.
    pub share: u32,
}

impl InfoHeader {
    /// The struct's bytes, as the uapi lays them out.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut image = Image::new();
        image.put(self.queues.to_ne_bytes());
        image.put(self.hash.to_ne_bytes());
        image.put(self.input.to_ne_bytes());
        image.put(self.registered.to_ne_bytes());
        image.put(self.normal_queued.to_ne_bytes());
        image.put(self.normal_accepted.to_ne_bytes());
        image.put(self.max_wait_ms.to_ne_bytes());
        image.put(self.share.to_ne_bytes());
        image.finish()
    }
}

/// `struct sock_level_hash_queue`: one queue's owner and counters (`#[repr(C)]`, as
/// [`InfoHeader`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueEntry {
    /// The owning thread group; 0: free.
    pub owner_pid: i32,
    /// Connections waiting now.
    pub depth: u32,
    /// Connections parked here.
    pub queued: u64,
    /// Connections accepted from here.
    pub accepted: u64,
    /// Connections moved away on deregistration or exit.
    pub moved: u64,
    /// Wake-ups of the owner's blocking `accept()`.
    pub wakeups: u64,
    /// Connections sent to the normal queue after the bounded wait.
    pub expired: u64,
    /// Connections sent to the normal queue because the queue held its share.
    pub overflowed: u64,
    /// Buckets owned now (0 on standby).
    pub buckets: u32,
    /// 1 while the owner is on standby, else 0.
    pub standby: u32,
    /// Times the owner was put on standby.
    pub demotions: u32,
    /// Times it was taken off standby.
    pub promotions: u32,
}

impl QueueEntry {
    /// The struct's bytes, as the uapi lays them out.
    pub fn to_bytes(&self) -> [u8; ENTRY_LEN] {
        let mut image = Image::new();
        image.put(self.owner_pid.to_ne_bytes());
        image.put(self.depth.to_ne_bytes());
        image.put(self.queued.to_ne_bytes());
        image.put(self.accepted.to_ne_bytes());
        image.put(self.moved.to_ne_bytes());
        image.put(self.wakeups.to_ne_bytes());
        image.put(self.expired.to_ne_bytes());
        image.put(self.overflowed.to_ne_bytes());
        image.put(self.buckets.to_ne_bytes());
        image.put(self.standby.to_ne_bytes());
        image.put(self.demotions.to_ne_bytes());
        image.put(self.promotions.to_ne_bytes());
        image.finish()
    }
}

/// `struct sock_level_hash` of a listener set to `config`: the resolved queue count (never
/// `-1`), `flags` 0.
pub fn config_struct(config: &Config) -> [u8; CONFIG_STRUCT_LEN] {
    let mut image = Image::new();
    image.put(i32::from(config.queues).to_ne_bytes());
    image.put((config.hash as u32).to_ne_bytes());
    image.put((config.input as u32).to_ne_bytes());
    image.put(0u32.to_ne_bytes());
    image.put(config.max_wait_ms.to_ne_bytes());
    image.finish()
}

/// What `getsockopt(SO_SOCKLEVELHASH)` writes: the start of [`config_struct`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigReply {
    bytes: [u8; CONFIG_STRUCT_LEN],
    len: usize,
}

impl ConfigReply {
    /// The bytes to copy out; their length is the `optlen` to return.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// `getsockopt(SO_SOCKLEVELHASH)` into a buffer of `optlen` bytes on a listener set to
/// `config`: exactly [`INT_LEN`], the `int` (the queue count, 0 when off); at least
/// [`CONFIG_STRUCT_LEN`], the struct; from [`CONFIG_STRUCT_LEN_V1`] up, the struct without
/// `max_wait_ms`, which is what a program built before the field asks for. Any other length:
/// [`Errno::Invalid`].
pub fn config_reply(config: &Config, optlen: usize) -> Result<ConfigReply, Errno> {
    let len = match optlen {
        // The struct starts with the `int`.
        INT_LEN => INT_LEN,
        len if len >= CONFIG_STRUCT_LEN => CONFIG_STRUCT_LEN,
        len if len >= CONFIG_STRUCT_LEN_V1 => CONFIG_STRUCT_LEN_V1,
        _ => return Err(Errno::Invalid),
    };
    Ok(ConfigReply {
        bytes: config_struct(config),
        len,
    })
}

/// `getsockopt(SO_SOCKADDLSPH)` into a buffer of `optlen` bytes by a caller that owns `queue`
/// of the listener, if any: its index or [`NOT_REGISTERED`]; a buffer shorter than the `int`:
/// [`Errno::Invalid`].
pub fn registration_reply(queue: Option<Slot>, optlen: usize) -> Result<[u8; INT_LEN], Errno> {
    if optlen < INT_LEN {
        return Err(Errno::Invalid);
    }
    Ok(queue.map_or(NOT_REGISTERED, i32::from).to_ne_bytes())
}

/// A struct's bytes, written field after field.
struct Image<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Image<N> {
    const fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    /// Appends the next field. The structs' field lists are fixed and the host tests fill each
    /// exactly, so the range is always in bounds.
    fn put<const W: usize>(&mut self, field: [u8; W]) {
        self.bytes[self.len..self.len + W].copy_from_slice(&field);
        self.len += W;
    }

    fn finish(self) -> [u8; N] {
        debug_assert_eq!(self.len, N, "a field of the struct is missing");
        self.bytes
    }
}
