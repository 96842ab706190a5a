#!/bin/bash
# Rust lblcr replaying the UMass YouTube trace as a transparent web cache, against the C lblcr:
# the same steps and checks as lblc_trace.sh; after the overloaded server is released, lblcr
# (unlike lblc) sends its targets back to it, the least loaded member of their sets.
# modules: ip_vs_lblcr_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/trace_scenario.sh"
trace_test lblcr
