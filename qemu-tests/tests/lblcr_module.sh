#!/bin/bash
# The Rust lblcr as a module: its name, its sysctl net.ipv4.vs.lblcr_expiration per namespace,
# IPVS's reference, a deleted real server still referenced by the table, a clean unload
# (qemu-tests/lib/sched_module.sh says what is checked).
# modules: ip_vs_lblcr_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/sched_module.sh"
sched_module_test lblcr
