#!/bin/bash
# Rust sh against the kernel's C sh behind NAT services (IPv4 without flags, IPv4 with
# sh-port and sh-fallback, IPv6), 64 client addresses with fixed source ports: the same
# server for every key, before and after a server is quiesced, deleted and added back
# (lib/hash_scenario.sh says what each step checks).
# modules: ip_vs_sh_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/lvs_scenario.sh"
. "$SLH_TOP/qemu-tests/lib/hash_scenario.sh"
hash_test sh
