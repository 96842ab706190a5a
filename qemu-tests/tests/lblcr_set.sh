#!/bin/bash
# lblcr's server set over time, Rust and C: a target's set grows when its server is overloaded,
# and once the set has not changed for net.ipv4.vs.lblcr_expiration (set to 1 s here) its most
# loaded member is dropped. Target = the VIP; rs1, rs2 with weight 1.
#   3 long-lived connections: rs1 rs1 rs2  (rs1 has 2 active > weight 1 while rs2 has none:
#                                           overloaded, rs2 joins the set)
#   1.5 s later, 1 short:    rs2           (the set is stale: rs1, the most loaded, is dropped;
#                                           rs2 was the least loaded member already)
#   rs1's weight -> 100, 2 short: rs2 rs2  (rs1 is now by far the least loaded server, but no
#                                           longer a member: had it not been dropped, rs1)
# modules: ip_vs_lblcr_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"

# lblcr_set_run rust|c OUT
lblcr_set_run() {
	local impl=$1 out=$2 module
	use_scheduler "$impl" lblcr
	module=$([ "$impl" = rust ] && echo ip_vs_lblcr_rs || echo ip_vs_lblcr)
	topo_up 2
	ip netns exec lb sh -c 'echo 1 >/proc/sys/net/ipv4/vs/lblcr_expiration'
	{
		echo "-A -t $VIP4:80 -s lblcr"
		echo "-a -t $VIP4:80 -r $(rs_addr4 2):$RS_PORT -m -w 1"
		echo "-a -t $VIP4:80 -r $(rs_addr4 1):$RS_PORT -m -w 1"
	} | ipvs -R
	assert_eq "$impl: references on $module" 1 "$(cat /sys/module/$module/refcnt)"
	client_start "$VIP4" 80
	{
		client_open 3
		sleep 1.5
		client_short 1
		ipvs -e -t "$VIP4:80" -r "$(rs_addr4 1):$RS_PORT" -m -w 100
		client_short 2
	} >"$out"
	client_stop
	ipvs -C
	topo_down
	unload_schedulers lblcr
}

out=$(mktemp -d)
mkdir -p "$out/rust" "$out/c"
lblcr_set_run rust "$out/rust/set"
lblcr_set_run c "$out/c/set"
assert_eq "Rust lblcr: grow, drop the most loaded member after the expiration, keep it out" \
	"rs1 rs1 rs2 rs2 rs2 rs2" "$(xargs <"$out/rust/set")"
same_choices lblcr "$out/rust" "$out/c"
