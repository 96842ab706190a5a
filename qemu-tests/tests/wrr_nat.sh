#!/bin/bash
# Rust wrr behind IPv4 and IPv6 NAT services: the exact C sequence for equal weights, 4/3/2,
# zeros, one huge weight, weight edits in the middle of a cycle, and all weights 0.
# modules: ip_vs_wrr_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/wrr_scenario.sh"
out=$(mktemp -d)
wrr_scenario rust "$out/rust"
wrr_scenario c "$out/c"
check_wrr_scenario "$out/rust" "$out/c"
