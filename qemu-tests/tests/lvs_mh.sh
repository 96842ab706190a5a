#!/bin/bash
# Rust mh against the kernel's C mh behind NAT services (IPv4 without flags, IPv4 with
# mh-port and mh-fallback, IPv6), 64 client addresses with fixed source ports: the same
# server for every key, before and after a server is quiesced, deleted and added back
# (lib/hash_scenario.sh says what each step checks).
# modules: ip_vs_mh_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/lvs_scenario.sh"
. "$SLH_TOP/qemu-tests/lib/hash_scenario.sh"
hash_test mh
