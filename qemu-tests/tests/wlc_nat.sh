#!/bin/bash
# Rust wlc behind IPv4 and IPv6 NAT services: exact distribution, weight 0, weight edits and a
# deleted real server, and the same server for every connection as the kernel's C wlc.
# modules: ip_vs_wlc_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/wlc_scenario.sh"
out=$(mktemp -d)
wlc_scenario rust "$out/rust"
wlc_scenario c "$out/c"
check_wlc_scenario "$out/rust" "$out/c"
