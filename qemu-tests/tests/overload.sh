#!/bin/bash
# Connection thresholds (ipvsadm -x/-y, IP_VS_DEST_F_OVERLOAD) with each Rust scheduler and its
# C twin, and a server deleted and added back mid-cycle: the same server for every connection,
# refused when every server is full
# (lib/overload_scenario.sh says what each step does).
# modules: ip_vs_wlc_rs ip_vs_wrr_rs ip_vs_lblc_rs ip_vs_lblcr_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/overload_scenario.sh"
out=$(mktemp -d)
topo_up 3
port=80
for sched in wlc wrr lblc lblcr; do
	overload_scenario "$sched" rust "$out/rust-$sched" $port
	overload_scenario "$sched" c "$out/c-$sched" $((port + 1))
	port=$((port + 2))
done
topo_down
for sched in wlc wrr lblc lblcr; do
	check_overload_scenario "$sched" "$out/rust-$sched" "$out/c-$sched"
done
