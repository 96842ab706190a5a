#!/bin/bash
# The kernel's own IPVS selftest (selftests/net/netfilter/ipvs.sh: DR, NAT, tunnel) passes with
# each Rust scheduler that picks by address in place of the C rr it is written for
# (lib/upstream_ipvs.sh): the hashes, and the locality tables with their timer and sysctl.
# modules: ip_vs_dh_rs ip_vs_sh_rs ip_vs_mh_rs ip_vs_lblc_rs ip_vs_lblcr_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/upstream_ipvs.sh"

upstream_ipvs_with dh sh mh lblc lblcr
