#!/bin/bash
# The Rust wrr and lblc behind an IPVS IPIP tunnel (-i), set up as the kernel's selftest
# net/netfilter/ipvs.sh does (with three real servers): the director encapsulates, the real
# server decapsulates on tunl0 and answers from the VIP straight to the client.
# wrr 3,2,1 gives 6/4/2 over 12 connections, in the C module's order; lblc sends every
# connection to the VIP to one server until that one is overloaded, then moves its table entry,
# exactly as the C lblc does; the director sees the replies only in NAT. Run with the C modules
# first (the oracle), then with the Rust ones.
# modules: ip_vs_wrr_rs ip_vs_lblc_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/fwd.sh"
. "$SLH_TOP/qemu-tests/lib/fwd_scenario.sh"
out=$(mktemp -d)
fwd_scenario tun c c "$out/c"
fwd_scenario tun rust rust "$out/rust"
check_fwd_scenario tun "$out/rust" "$out/c"
