// SPDX-License-Identifier: GPL-2.0
//! Socket-level hash: per-process priority accept queues for TCP listeners.
//!
//! `SO_SOCKLEVELHASH` gives a listen socket up to 1,024 priority accept queues besides its
//! normal one; `SO_SOCKADDLSPH` registers the calling process to one of them. Each completed
//! connection is hashed on the client address (Toeplitz by default) to one of 256 buckets, and
//! the bucket names the queue of the process that owns it: every connection of one client
//! reaches the same worker of a pre-fork server, which can then keep its session table
//! private. Buckets without an owner go to the normal queue. The semantics and the error table
//! are in `userspace/README.md`.
//!
//! This file is the policy: what the options mean and where a connection goes. The decisions
//! are the pure cores shared with the host crate `sock-level-hash-core`; the queues, wait heads
//! and every call into C are in `glue/`.

use core::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use kernel::prelude::*;

#[path = "sock_level_hash/glue/mod.rs"]
mod glue;
// The pure cores, the same files the host crate tests.
#[allow(dead_code, unreachable_pub)]
#[path = "sock_level_hash/core/src/bound.rs"]
mod bound;
#[allow(dead_code, unreachable_pub)]
#[path = "sock_level_hash/core/src/hash.rs"]
mod hash;
#[allow(dead_code, unreachable_pub)]
#[path = "sock_level_hash/core/src/options.rs"]
mod options;
#[allow(dead_code, unreachable_pub)]
#[path = "sock_level_hash/core/src/reply.rs"]
mod reply;
#[allow(dead_code, unreachable_pub)]
#[path = "sock_level_hash/core/src/table.rs"]
mod table;

use glue::{Listener, Sock, SockGuard, SockLocked, SockOpt};
use hash::{FlowKey, HashFn, HashInput};
use options::{Config, Errno, Reconfigure, RegistrationChange};
use reply::{InfoHeader, QueueEntry};
use table::{IndirectionTable, DEFAULT_BUCKETS, MAX_QUEUES};

module! {
    type: SockLevelHashModule,
    name: "sock_level_hash",
    author: "Socket Level Hash Developers",
    description: "socket-level hash: per-process accept queues for TCP listeners (Rust)",
    license: "GPL",
}

struct SockLevelHashModule {
    _registration: glue::Registration<SocketLevelHash>,
}

impl kernel::Module for SockLevelHashModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _registration: glue::Registration::new(module)?,
        })
    }
}

type Table = IndirectionTable<DEFAULT_BUCKETS>;

/// What changes only under the socket lock: the setting and who owns which bucket.
struct Control {
    config: Config,
    /// On the heap (4 KiB), so that nothing copies it through the stack.
    table: KBox<Table>,
}

/// What the packet path reads without a lock: a copy of the setting and of the table's
/// bucket owners (0: the normal queue, `k + 1`: queue `k`), republished after every change.
struct Routing {
    queues: AtomicU16,
    /// Owners that take buckets (not on standby), for the bounded share.
    registered: AtomicU32,
    hash: AtomicU32,
    input: AtomicU32,
    buckets: [AtomicU16; DEFAULT_BUCKETS],
}

impl Routing {
    fn publish(&self, control: &Control) {
        let config = &control.config;
        self.hash.store(config.hash as u32, Ordering::Relaxed);
        self.input.store(config.input as u32, Ordering::Relaxed);
        // The share is among the owners that take buckets: one on standby gets none.
        self.registered
            .store(control.table.active_count() as u32, Ordering::Relaxed);
        for (bucket, owner) in self.buckets.iter().enumerate() {
            let encoded = control.table.owner(bucket).map_or(0, |queue| queue + 1);
            owner.store(encoded, Ordering::Release);
        }
        self.queues.store(config.queues, Ordering::Release);
    }
}

/// The policy's data of one listener.
struct ListenerData {
    control: SockLocked<Control>,
    routing: Routing,
}

fn to_error(errno: Errno) -> Error {
    glue::errno(errno as u32)
}

fn eopnotsupp() -> Error {
    to_error(Errno::NotSupported)
}

struct SocketLevelHash;

impl SocketLevelHash {
    fn set_config(sock: &mut Sock<'_, Self>, value: &[u8]) -> Result {
        if !sock.is_listener_or_unbound() {
            return Err(eopnotsupp());
        }
        let new = options::parse_config(value, glue::nr_cpu_ids()).map_err(to_error)?;
        let (current, registered) = match sock.listener() {
            Some(listener) => {
                let control = listener.data().control.get(sock.guard());
                (control.config, control.table.registered_count())
            }
            None => (Config::OFF, 0),
        };
        match options::check_reconfigure(&current, &new, registered).map_err(to_error)? {
            Reconfigure::Same => Ok(()),
            Reconfigure::Rehash => {
                let listener = sock.listener().ok_or(EINVAL)?;
                let data = listener.data();
                let control = data.control.get(sock.guard());
                control.config = new;
                data.routing.publish(control);
                listener.set_max_wait(sock.guard(), new.max_wait_ms);
                Ok(())
            }
            Reconfigure::TurnOn | Reconfigure::Resize => {
                let listener = sock.listener_or_create()?;
                listener.ensure_queues(sock.guard(), usize::from(new.queues))?;
                let data = listener.data();
                let control = data.control.get(sock.guard());
                control
                    .table
                    .reset(usize::from(new.queues))
                    .map_err(|_| EINVAL)?;
                control.config = new;
                data.routing.publish(control);
                listener.set_max_wait(sock.guard(), new.max_wait_ms);
                Ok(())
            }
            Reconfigure::TurnOff => {
                let listener = sock.listener().ok_or(EINVAL)?;
                Self::turn_off(listener, sock.guard());
                Ok(())
            }
        }
    }

    /// Deregisters every process; every parked connection goes to the normal queue.
    fn turn_off(listener: &Listener<Self>, guard: &mut SockGuard<'_>) {
        let data = listener.data();
        let control = data.control.get(guard);
        let n_queues = control.table.n_queues();
        let mut registered = [0u64; MAX_QUEUES / 64];
        for queue in control.table.registered_queues() {
            registered[usize::from(queue) / 64] |= 1 << (queue % 64);
        }
        // Route everything to the normal queue first, so nothing parks while queues close.
        control.config = Config::OFF;
        // `reset(0)` cannot fail: 0 queues is always valid.
        let _ = control.table.reset(0);
        data.routing.publish(control);
        for index in (0..n_queues).filter(|index| registered[index / 64] & (1 << (index % 64)) != 0)
        {
            listener.close_queue(guard, index, false);
        }
    }

    fn set_registration(sock: &mut Sock<'_, Self>, value: &[u8]) -> Result {
        let listener = sock.listener().ok_or_else(eopnotsupp)?;
        let data = listener.data();
        let change = {
            let control = data.control.get(sock.guard());
            let request = options::parse_registration(value, &control.config).map_err(to_error)?;
            let caller = listener
                .caller_queue()
                .map(|queue| queue.index() as table::Slot);
            options::check_registration(
                request,
                caller,
                |index| {
                    listener
                        .queue(usize::from(index))
                        .is_some_and(|queue| queue.has_owner())
                },
                control.table.first_free_queue(),
            )
            .map_err(to_error)?
        };
        match change {
            RegistrationChange::Keep(_) | RegistrationChange::Nothing => Ok(()),
            RegistrationChange::Register(queue) => {
                // Open the queue first, then route buckets to it.
                listener.open_queue(sock.guard(), usize::from(queue))?;
                let control = data.control.get(sock.guard());
                if control.table.register(queue).is_err() {
                    listener.close_queue(sock.guard(), usize::from(queue), false);
                    return Err(EINVAL);
                }
                data.routing.publish(control);
                Ok(())
            }
            RegistrationChange::Deregister(queue) => {
                Self::deregister(listener, sock.guard(), usize::from(queue));
                Ok(())
            }
        }
    }

    /// Takes queue `index` from its owner: its buckets go to the remaining owners (only that
    /// share of clients moves), then its parked connections follow their buckets.
    fn deregister(listener: &Listener<Self>, guard: &mut SockGuard<'_>, index: usize) {
        let data = listener.data();
        let control = data.control.get(guard);
        if let Ok(queue) = table::Slot::try_from(index) {
            // Not registered in the table only if registration failed half-way: still close.
            let _ = control.table.deregister(queue);
        }
        data.routing.publish(control);
        listener.close_queue(guard, index, true);
    }

    fn get_config(
        listener: Option<&Listener<Self>>,
        guard: &mut SockGuard<'_>,
        out: &mut [u8],
    ) -> Result<usize> {
        let config = listener.map_or(Config::OFF, |listener| {
            listener.data().control.get(guard).config
        });
        let reply = reply::config_reply(&config, out.len()).map_err(to_error)?;
        put(out, reply.as_bytes())
    }

    fn get_info(
        listener: Option<&Listener<Self>>,
        guard: &mut SockGuard<'_>,
        out: &mut [u8],
    ) -> Result<usize> {
        if out.len() < reply::HEADER_LEN {
            return Err(EINVAL);
        }
        // Queues exist only while the option is on: a socket that never had it, or had it
        // turned off, has no table to show.
        let listener = listener.ok_or_else(eopnotsupp)?;
        let (config, registered) = {
            let control = listener.data().control.get(guard);
            (control.config, control.table.registered_count())
        };
        if config.queues == 0 {
            return Err(eopnotsupp());
        }
        let (normal_queued, normal_accepted) = listener.normal_counts();
        let share = if config.max_wait_ms == 0 {
            0
        } else {
            bound::queue_share(listener.max_backlog(), data_active(listener, guard))
        };
        let header = InfoHeader {
            queues: u32::from(config.queues),
            hash: config.hash as u32,
            input: config.input as u32,
            registered: registered as u32,
            normal_queued,
            normal_accepted,
            max_wait_ms: config.max_wait_ms,
            share,
        };
        put(out, &header.to_bytes())?;
        // As many whole entries as fit; the header's count tells the caller how many exist.
        let entries_out = out.get_mut(reply::HEADER_LEN..).ok_or(EINVAL)?;
        let mut entries = 0;
        for (index, entry_out) in entries_out
            .chunks_exact_mut(reply::ENTRY_LEN)
            .enumerate()
            .take(usize::from(config.queues))
        {
            let queue = listener.queue(index).ok_or(EINVAL)?;
            let stats = &queue.stats;
            let buckets = listener
                .data()
                .control
                .get(guard)
                .table
                .bucket_count(index as table::Slot);
            let entry = QueueEntry {
                owner_pid: queue.owner_pid(),
                depth: queue.depth(),
                queued: stats.queued.load(Ordering::Relaxed),
                accepted: stats.accepted.load(Ordering::Relaxed),
                moved: stats.moved.load(Ordering::Relaxed),
                wakeups: stats.wakeups.load(Ordering::Relaxed),
                expired: stats.expired.load(Ordering::Relaxed),
                overflowed: stats.overflowed.load(Ordering::Relaxed),
                buckets: buckets as u32,
                standby: u32::from(queue.on_standby()),
                demotions: stats.demotions.load(Ordering::Relaxed) as u32,
                promotions: stats.promotions.load(Ordering::Relaxed) as u32,
            };
            put(entry_out, &entry.to_bytes())?;
            entries += 1;
        }
        Ok(reply::HEADER_LEN + entries * reply::ENTRY_LEN)
    }
}

/// The owners that take buckets, among whom the backlog is shared.
fn data_active(listener: &Listener<SocketLevelHash>, guard: &mut SockGuard<'_>) -> u32 {
    listener.data().control.get(guard).table.active_count() as u32
}

/// Writes `bytes` at the start of `out`; returns their length.
fn put(out: &mut [u8], bytes: &[u8]) -> Result<usize> {
    out.get_mut(..bytes.len())
        .ok_or(EINVAL)?
        .copy_from_slice(bytes);
    Ok(bytes.len())
}

impl glue::Policy for SocketLevelHash {
    type Data = ListenerData;

    fn new_data(guard: &SockGuard<'_>) -> Result<KBox<ListenerData>> {
        let table = glue::new_table()?;
        Ok(KBox::new(
            ListenerData {
                control: SockLocked::new(
                    guard,
                    Control {
                        config: Config::OFF,
                        table,
                    },
                ),
                routing: Routing {
                    queues: AtomicU16::new(0),
                    registered: AtomicU32::new(0),
                    hash: AtomicU32::new(0),
                    input: AtomicU32::new(0),
                    buckets: [const { AtomicU16::new(0) }; DEFAULT_BUCKETS],
                },
            },
            GFP_KERNEL,
        )?)
    }

    fn setsockopt(sock: &mut Sock<'_, Self>, option: SockOpt, value: &[u8]) -> Result {
        match option {
            SockOpt::Config => Self::set_config(sock, value),
            SockOpt::Register => Self::set_registration(sock, value),
            SockOpt::Info => Err(glue::errno(kernel::bindings::ENOPROTOOPT)),
        }
    }

    fn getsockopt(sock: &mut Sock<'_, Self>, option: SockOpt, out: &mut [u8]) -> Result<usize> {
        let listener = sock.listener();
        match option {
            SockOpt::Config => Self::get_config(listener, sock.guard(), out),
            SockOpt::Register => {
                let queue = listener
                    .and_then(|listener| listener.caller_queue())
                    .map(|queue| queue.index() as table::Slot);
                let reply = reply::registration_reply(queue, out.len()).map_err(to_error)?;
                put(out, &reply)
            }
            SockOpt::Info => Self::get_info(listener, sock.guard(), out),
        }
    }

    fn route(listener: &Listener<Self>, flow: &FlowKey) -> Option<usize> {
        let routing = &listener.data().routing;
        if routing.queues.load(Ordering::Acquire) == 0 {
            return None;
        }
        let hash = HashFn::try_from(routing.hash.load(Ordering::Relaxed)).unwrap_or_default();
        let input = HashInput::try_from(routing.input.load(Ordering::Relaxed)).unwrap_or_default();
        let bucket = Table::bucket_of(hash.hash(flow, input));
        let owner = routing.buckets.get(bucket)?.load(Ordering::Acquire);
        let index = usize::from(owner.checked_sub(1)?);
        if listener.bounded() {
            // Bounded share: a queue whose owner does not keep up never fills the backlog.
            let queue = listener.queue(index)?;
            let share = bound::queue_share(
                listener.max_backlog(),
                routing.registered.load(Ordering::Relaxed),
            );
            if queue.depth() >= share {
                queue.stats.overflowed.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        }
        Some(index)
    }

    fn owner_exited(listener: &Listener<Self>, guard: &mut SockGuard<'_>, index: usize) {
        Self::deregister(listener, guard, index);
    }

    fn owner_lagging(listener: &Listener<Self>, guard: &mut SockGuard<'_>, index: usize) {
        let data = listener.data();
        let control = data.control.get(guard);
        let Ok(queue) = table::Slot::try_from(index) else {
            return;
        };
        if control.config.max_wait_ms == 0 || control.table.demote(queue).is_err() {
            return;
        }
        data.routing.publish(control);
        listener.set_standby(guard, index, true);
    }

    fn owner_back(listener: &Listener<Self>, guard: &mut SockGuard<'_>, index: usize) {
        let data = listener.data();
        let control = data.control.get(guard);
        let Ok(queue) = table::Slot::try_from(index) else {
            return;
        };
        if control.table.promote(queue).is_err() {
            return;
        }
        data.routing.publish(control);
        listener.set_standby(guard, index, false);
    }

    fn release(listener: &Listener<Self>, guard: &mut SockGuard<'_>) {
        Self::turn_off(listener, guard);
    }
}
