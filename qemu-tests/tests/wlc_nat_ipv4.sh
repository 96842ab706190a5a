#!/bin/bash
# Rust wlc behind an IPv4 NAT service: exact distribution, weight 0, weight edits and a deleted
# real server, and the same server for every connection as the kernel's C wlc.
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/wlc_scenario.sh"
out=$(mktemp -d)
wlc_scenario rust 4 "$out/rust"
wlc_scenario c 4 "$out/c"
check_wlc_scenario "$out/rust" "$out/c"
