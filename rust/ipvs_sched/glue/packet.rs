// SPDX-License-Identifier: GPL-2.0
//! The packet being scheduled, as the scheduler sees it, and the RCU read-side section of its
//! `schedule` call.

use core::ffi::c_int;
use kernel::bindings;

use super::{place::Place, Addr, PlaceGuard, Service};

/// What a scheduler sees of the first packet of a new connection (`struct ip_vs_iphdr`).
/// It also stands for the call's RCU read-side section ([`ReadSide`]).
pub struct Packet {
    /// The packet and IPVS's parse of its headers, valid for the `schedule` call.
    pub(super) skb: *const bindings::sk_buff,
    pub(super) iph: *const bindings::ip_vs_iphdr,
    /// The service is IPv6 (the family of the addresses in `iph`).
    pub(super) v6: bool,
    /// The service being scheduled, and its place (in the glue's state of the service, or its
    /// `sched_data` word for a scheduler without data).
    pub(super) svc: *mut bindings::ip_vs_service,
    pub(super) place: *const Place,
    /// The address of the service's data (its `ServiceData`), for [`PlaceGuard`].
    pub(super) data: *const (),
}

impl Packet {
    /// Takes the service's `sched_lock`: its place in its list of real servers, where rr and
    /// wrr continue (C's `svc->sched_data`, `mark->cl`).
    pub fn lock_place(&self) -> PlaceGuard<'_> {
        // SAFETY: `svc` is the service being scheduled, `place` its place and `data` the
        // address of its data, valid for the `schedule` call, which runs under the RCU read
        // lock and which the guard, a borrow of the packet, does not outlive.
        unsafe { PlaceGuard::lock(Service::from_raw(self.svc), &*self.place, self.data) }
    }

    /// An address of the parsed header, in the service's family.
    fn addr(&self, addr: &bindings::nf_inet_addr) -> Addr {
        // SAFETY: IPVS only matches packets of the service's family, so the union holds an
        // address of that family.
        unsafe {
            if self.v6 {
                Addr::V6(addr.in6.in6_u.u6_addr8)
            } else {
                Addr::V4(addr.ip.to_ne_bytes())
            }
        }
    }

    /// The header as IPVS parsed it.
    fn iph(&self) -> &bindings::ip_vs_iphdr {
        // SAFETY: valid for the `schedule` call, which `self` does not outlive.
        unsafe { &*self.iph }
    }

    /// The packet runs from the server back to the client: an ICMP error about a packet of
    /// the connection (C's `ip_vs_iph_inverse()`).
    fn inverse(&self) -> bool {
        self.iph().hdr_flags & bindings::IP_VS_HDR_INVERSE as c_int != 0
    }

    /// The service is IPv6: its family as this call read it once, the family of the
    /// packet's addresses. The hashing schedulers fold an address by it: the same read as the
    /// addresses' own, where `Service::is_ipv6()` would read `svc->af` again.
    pub fn is_ipv6(&self) -> bool {
        self.v6
    }

    /// The destination address: the key of the locality-based schedulers.
    pub fn daddr(&self) -> Addr {
        self.addr(&self.iph().daddr)
    }

    /// The client's address: the source address, or the destination of an ICMP error about
    /// the connection (the key of sh and mh, C's `ip_vs_iph_inverse(iph) ? &iph->daddr :
    /// &iph->saddr`).
    pub fn client_addr(&self) -> Addr {
        let iph = self.iph();
        self.addr(if self.inverse() {
            &iph.daddr
        } else {
            &iph.saddr
        })
    }

    /// The client's port, host byte order, for TCP, UDP and SCTP (the first two bytes of the
    /// transport header, or the next two of an ICMP error's); 0 for another protocol or a
    /// packet too short: C's `ip_vs_sh_get_port()` / `ip_vs_mh_get_port()`.
    pub fn client_port(&self) -> u16 {
        // The benchmark module calls `schedule()` without a packet (a null `skb`).
        if self.skb.is_null() {
            return 0;
        }
        let iph = self.iph();
        let proto = iph.protocol as u32;
        if proto != bindings::IPPROTO_TCP
            && proto != bindings::IPPROTO_UDP
            && proto != bindings::IPPROTO_SCTP
        {
            return 0;
        }
        let mut ports = [0u16; 2];
        // SAFETY: the packet is valid for the call; `skb_copy_bits()` copies 4 bytes at the
        // transport header's offset into `ports`, or fails if the packet is shorter (C's
        // `skb_header_pointer()`, whose slow path this is).
        let err = unsafe {
            bindings::skb_copy_bits(
                self.skb,
                iph.len as c_int,
                ports.as_mut_ptr().cast(),
                core::mem::size_of_val(&ports) as c_int,
            )
        };
        if err != 0 {
            return 0;
        }
        u16::from_be(ports[if self.inverse() { 1 } else { 0 }])
    }
}
