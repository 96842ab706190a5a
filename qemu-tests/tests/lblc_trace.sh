#!/bin/bash
# Rust lblc as a transparent web cache (LVS's firewall-mark set-up: port 80 to any
# destination, three cache servers, NAT) replaying the destinations of the UMass YouTube trace
# (../shared/data/umass-youtube/, column 6, in trace order): 2,000 IPv4 connections and 500
# IPv6 ones (the same addresses in 2001:db8:ff::/96), then one server overloaded (more active
# connections than its weight) and its targets replayed: remapped, then released.
# The C module, run through the same steps, must map every connection to the same server; each
# run must also show locality (one server per target while nothing is overloaded), use every
# server, leave the overloaded server and keep the other servers' targets (trace_check).
# Plan and determinism: qemu-tests/lib/trace_scenario.sh. lblcr: lblcr_trace.sh.
# modules: ip_vs_lblc_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/trace_scenario.sh"
trace_test lblc
