#!/bin/bash
# The kernel's own IPVS selftest (selftests/net/netfilter/ipvs.sh: DR, NAT, tunnel) passes with
# each Rust scheduler that picks by list order and load in place of the C rr it is written for
# (lib/upstream_ipvs.sh); the schedulers that pick by address: upstream_ipvs_hash.
# modules: ip_vs_rr_rs ip_vs_wrr_rs ip_vs_lc_rs ip_vs_wlc_rs ip_vs_sed_rs ip_vs_nq_rs ip_vs_fo_rs ip_vs_ovf_rs ip_vs_twos_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/upstream_ipvs.sh"

upstream_ipvs_with rr wrr lc wlc sed nq fo ovf twos
