// SPDX-License-Identifier: GPL-2.0
//! A per-network-namespace integer sysctl in `net/ipv4/vs/` (C's `lblc_expiration`).

use core::{
    cell::UnsafeCell,
    ffi::{c_int, c_uint},
    ptr::{addr_of, addr_of_mut},
};
use kernel::{bindings, error::to_result, prelude::*, str::CStr, types::Opaque};

use super::{Packet, Service};

/// An integer sysctl in `net/ipv4/vs/` of every network namespace, in jiffies and shown in
/// seconds (`proc_dointvec_jiffies`), as C's `lblc_expiration` and `lblcr_expiration`. Kept
/// in per-namespace storage of our own (`net_generic`), not in `struct netns_ipvs`, so that
/// the C module of the same name, if someone tries to load it beside ours, cannot overwrite
/// our state before its registration fails.
///
/// A module declares one as a `static`, names it through [`NetSysctlDef`] and keeps the
/// [`NetSysctlRegistration`] while loaded. It must register the sysctl before its scheduler
/// (and drop it after), since [`NetSysctl::get`] reads the storage the registration creates.
pub struct NetSysctl {
    name: &'static CStr,
    default: i32,
    ops: Opaque<bindings::pernet_operations>,
    id: UnsafeCell<c_uint>,
}

// SAFETY: `ops` and `id` are written once, in `register`, before the kernel or any reader
// sees them; afterwards only the kernel's pernet code uses them, under its own lock.
unsafe impl Sync for NetSysctl {}

/// Names a module's `static` [`NetSysctl`] (the pernet callbacks receive only the namespace).
pub trait NetSysctlDef: 'static {
    /// The module's sysctl.
    fn sysctl() -> &'static NetSysctl;
}

/// The per-namespace storage: the value, its table and the registration of that table.
#[repr(C)]
struct NetSysctlValue {
    value: c_int,
    header: *mut bindings::ctl_table_header,
    table: [bindings::ctl_table; 1],
}

/// C's `net_generic()`: our storage in namespace `net`.
///
/// # Safety
///
/// `net` is a live namespace and `id` the id of pernet operations with storage registered
/// for it.
unsafe fn net_generic(net: *mut bindings::net, id: c_uint) -> *mut NetSysctlValue {
    // SAFETY: as per the function's safety requirements; the RCU read lock covers the read
    // of `net->gen`.
    unsafe {
        bindings::rcu_read_lock();
        let value = net_generic_rcu(net, id);
        bindings::rcu_read_unlock();
        value
    }
}

/// [`net_generic`] for a caller already inside an RCU read-side section.
///
/// # Safety
///
/// As for [`net_generic`], and the caller holds the RCU read lock.
unsafe fn net_generic_rcu(net: *mut bindings::net, id: c_uint) -> *mut NetSysctlValue {
    // SAFETY: `net->gen` is an RCU-protected array holding the storage of every registered
    // id; the caller's read-side section keeps the array, and the namespace keeps the
    // storage itself.
    unsafe {
        let generic = core::ptr::read_volatile(addr_of!((*net).gen));
        let ptrs = (*generic)
            .__bindgen_anon_1
            .__bindgen_anon_1
            .as_ref()
            .ptr
            .as_ptr();
        (*ptrs.add(id as usize)).cast()
    }
}

unsafe extern "C" fn net_sysctl_init<D: NetSysctlDef>(net: *mut bindings::net) -> c_int {
    let sysctl = D::sysctl();
    // SAFETY: the kernel calls `init` for a live namespace after allocating our zeroed
    // storage; `id` was assigned by `register_pernet_subsys`. The table points to the value in
    // the same storage, which outlives the registration (removed in `net_sysctl_exit`).
    unsafe {
        let v = net_generic(net, *sysctl.id.get());
        (*v).value = sysctl.default;
        (*v).table[0] = bindings::ctl_table {
            procname: sysctl.name.as_char_ptr(),
            data: addr_of_mut!((*v).value).cast(),
            maxlen: core::mem::size_of::<c_int>() as c_int,
            mode: 0o644,
            proc_handler: Some(bindings::proc_dointvec_jiffies),
            ..Default::default()
        };
        // Like C: namespaces of other user namespaces get the directory but not the entry.
        let entries = if (*net).user_ns == addr_of_mut!(bindings::init_user_ns) {
            1
        } else {
            0
        };
        (*v).header = bindings::register_net_sysctl_sz(
            net,
            kernel::c_str!("net/ipv4/vs").as_char_ptr(),
            (*v).table.as_mut_ptr(),
            entries,
        );
        if (*v).header.is_null() {
            return ENOMEM.to_errno();
        }
    }
    0
}

unsafe extern "C" fn net_sysctl_exit<D: NetSysctlDef>(net: *mut bindings::net) {
    // SAFETY: `init` succeeded for this namespace, so `header` is our registration.
    unsafe {
        let v = net_generic(net, *D::sysctl().id.get());
        bindings::unregister_net_sysctl_table((*v).header);
    }
}

impl NetSysctl {
    /// A sysctl `net.ipv4.vs.<name>` whose value starts at `default` jiffies.
    pub const fn new(name: &'static CStr, default: i32) -> Self {
        Self {
            name,
            default,
            ops: Opaque::uninit(),
            id: UnsafeCell::new(0),
        }
    }

    /// Creates the sysctl in every namespace, present and future.
    pub fn register<D: NetSysctlDef>() -> Result<NetSysctlRegistration> {
        let sysctl = D::sysctl();
        let ops = sysctl.ops.get();
        // SAFETY: called once from module init, before the kernel knows `ops`; the static
        // outlives the registration, which `NetSysctlRegistration` removes on drop.
        unsafe {
            ops.write(bindings::pernet_operations {
                init: Some(net_sysctl_init::<D>),
                exit: Some(net_sysctl_exit::<D>),
                id: sysctl.id.get(),
                size: core::mem::size_of::<NetSysctlValue>(),
                ..Default::default()
            });
            to_result(bindings::register_pernet_subsys(ops))?;
        }
        Ok(NetSysctlRegistration { ops })
    }

    /// The value in the namespace of `svc`.
    pub fn get(&self, svc: &Service) -> i32 {
        // SAFETY: a service's namespace is alive, and it has our storage: a module registers
        // its sysctl before its scheduler, so before any service can call this.
        unsafe {
            core::ptr::read_volatile(addr_of!((*net_generic(svc.net(), *self.id.get())).value))
        }
    }

    /// [`NetSysctl::get`] on the packet path: `pkt` proves the RCU read-side section that
    /// `net->gen` needs, so no lock is taken (C's lblcr reads a field of `netns_ipvs` there;
    /// an `rcu_read_lock()`/`rcu_read_unlock()` pair per packet, with lockdep's bookkeeping on
    /// a debug kernel, cost more than the whole C schedule).
    pub fn get_in(&self, svc: &Service, _pkt: &Packet) -> i32 {
        // SAFETY: as in `get`; `net->gen` is RCU-protected and the caller is inside the RCU
        // read-side section of the packet being scheduled, which `pkt` borrows from.
        unsafe {
            core::ptr::read_volatile(addr_of!(
                (*net_generic_rcu(svc.net(), *self.id.get())).value
            ))
        }
    }
}

/// Declares `$name`, a unit struct naming a `static` [`NetSysctl`] `net.ipv4.vs.$procname`
/// with the default `$default` jiffies: `net_sysctl!(Expiration, "lblc_expiration", ...)`,
/// then `NetSysctl::register::<Expiration>()` and `Expiration::sysctl().get(svc)`.
#[macro_export]
macro_rules! net_sysctl {
    ($name:ident, $procname:literal, $default:expr) => {
        struct $name;

        impl $crate::glue::NetSysctlDef for $name {
            fn sysctl() -> &'static $crate::glue::NetSysctl {
                static SYSCTL: $crate::glue::NetSysctl =
                    $crate::glue::NetSysctl::new(kernel::c_str!($procname), $default);
                &SYSCTL
            }
        }
    };
}

/// A registered [`NetSysctl`]; removed from every namespace when dropped.
pub struct NetSysctlRegistration {
    ops: *mut bindings::pernet_operations,
}

// SAFETY: only dropped, from module exit.
unsafe impl Send for NetSysctlRegistration {}
// SAFETY: a shared registration exposes nothing.
unsafe impl Sync for NetSysctlRegistration {}

impl Drop for NetSysctlRegistration {
    fn drop(&mut self) {
        // SAFETY: `ops` was registered by `NetSysctl::register`.
        unsafe { bindings::unregister_pernet_subsys(self.ops) };
    }
}
