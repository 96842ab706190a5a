#!/bin/bash
# Rust lc against the kernel's C lc behind IPv4 and IPv6 NAT services, connections from 32
# client addresses: weights, a quiesced server, a connection threshold (-x/-y), a server
# deleted and one added with connections open, short and long-lived connections; the same
# server as C for every connection (lib/lvs_scenario.sh says what each step does).
# modules: ip_vs_lc_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/lvs_scenario.sh"
lvs_test lc
