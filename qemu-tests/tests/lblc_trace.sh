#!/bin/bash
# Rust lblc and lblcr as a transparent web cache (LVS's firewall-mark set-up: port 80 to any
# destination, three cache servers, NAT) replaying the destinations of the UMass YouTube trace
# (../shared/data/umass-youtube/, column 6, in trace order): 2,000 IPv4 connections and 500
# IPv6 ones (the same addresses in 2001:db8:ff::/96), then one server overloaded (more active
# connections than its weight) and its targets replayed: remapped, then released.
# The C module, run through the same steps, must map every connection to the same server; each
# run must also show locality (one server per target while nothing is overloaded), use every
# server, leave the overloaded server and keep the other servers' targets (trace_check).
# Plan and determinism: qemu-tests/lib/trace_scenario.sh.
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/trace_scenario.sh"
trace_require
out=$(mktemp -d)
cache_up
trace_targets "$out/tmp" $TRACE_N4 $TRACE_N6
trace_all rust "$out/rust" "$out/tmp"
trace_all c "$out/c" "$out/tmp"
cache_down
for sched in lblc lblcr; do
	for family in 4 6; do trace_check $sched $family "$out/rust"; done
done
same_choices lblc/lblcr "$out/rust" "$out/c"
