#!/bin/bash
# Persistence with the Rust wrr and lblc (IPVS NAT, three real servers, eight client source
# addresses in two /24s): without -p one client's connections spread over the servers; with
# -p 300 every connection of one client address goes to one server, and different clients
# are spread round robin; with -p 300 -M 255.255.255.0 every client of one /24 shares a server;
# lblc -p 300 keeps a client on its server past lblc's overload rule and schedules only first
# connections. The same choices, connection by connection, as with the C modules.
# modules: ip_vs_wrr_rs ip_vs_lblc_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/fwd.sh"
. "$SLH_TOP/qemu-tests/lib/persist_scenario.sh"
out=$(mktemp -d)
persist_scenario nat c c "$out/c"
persist_scenario nat rust rust "$out/rust"
check_persist_scenario nat "$out/rust" "$out/c"
