#!/bin/bash
# Rust wlc behind an IPv6 NAT service: exact distribution, weight 0, weight edits and a deleted
# real server, and the same server for every connection as the kernel's C wlc.
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/wlc_scenario.sh"
out=$(mktemp -d)
wlc_scenario rust 6 "$out/rust"
wlc_scenario c 6 "$out/c"
check_wlc_scenario "$out/rust" "$out/c"
