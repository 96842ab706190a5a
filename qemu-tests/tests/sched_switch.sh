#!/bin/bash
# Switching a live service between the Rust wlc, wrr, lblc and lblcr (ipvsadm -E -s) under
# traffic: every connection is served, except that IPVS itself refuses a new connection that
# arrives while it has unbound the old scheduler and waits for an RCU grace period before
# binding the new one (svc->scheduler is NULL then; the same with the C schedulers): a few
# refusals per switch at most, nothing else (no reset, no timeout, no kernel error). IPVS moves its
# module reference from one module to the other, and both modules unload once the service is
# gone. Exercises init_service/done_service, the per-service state freed after an RCU grace
# period while the packet path may still read it, and lblc/lblcr's timers and tables torn down.
# modules: ip_vs_wlc_rs ip_vs_wrr_rs ip_vs_lblc_rs ip_vs_lblcr_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"

schedulers="wlc wrr lblc lblcr"
for name in $schedulers; do
	unload_schedulers "$name"
	insmod "$(rust_module "$name")"
done
topo_up 3
{
	echo "-A -t $VIP4:80 -s wlc"
	for k in 1 2 3; do echo "-a -t $VIP4:80 -r $(rs_addr4 $k):$RS_PORT -m -w $k"; done
} | ipvs -R

ip netns exec cl /usr/bin/python3 -I -S "$LIB/client.py" "$VIP4" 80 <<<"short 150" >$TMPDIR/traffic.txt &
traffic=$!
switches=0
while kill -0 $traffic 2>/dev/null; do
	for name in wrr lblc lblcr wlc; do
		ipvs -E -t "$VIP4:80" -s $name
		switches=$((switches + 1))
	done
done
wait $traffic
echo "ok: $switches scheduler switches during the traffic"
[ "$switches" -ge 8 ] || fail "the traffic ended before the schedulers were switched twice round"
answered=$(grep -c '^rs' $TMPDIR/traffic.txt || true)
refused=$(grep -c '^error .*Connection refused' $TMPDIR/traffic.txt || true)
grep -v '^rs' $TMPDIR/traffic.txt || true
assert_eq "connections answered or refused" 150 $((answered + refused))
# A refusal comes back at once and the client tries again: one unbind (an RCU grace period,
# longer with 4 vCPUs under TCG) may refuse a few connections; most must be answered.
[ "$refused" -le $((3 * switches)) ] || fail "$refused connections refused for $switches switches"
[ "$answered" -gt "$refused" ] || fail "only $answered of 150 connections answered"
echo "ok: $answered answered, $refused refused during $switches switches"

assert_eq "references on ip_vs_wlc_rs (in use)" 1 "$(cat /sys/module/ip_vs_wlc_rs/refcnt)"
for name in wrr lblc lblcr; do
	assert_eq "references on ip_vs_${name}_rs (switched away)" 0 "$(cat /sys/module/ip_vs_${name}_rs/refcnt)"
	rmmod ip_vs_${name}_rs
	echo "ok: $name unloaded while the service uses wlc"
done
if rmmod ip_vs_wlc_rs 2>/dev/null; then fail "wlc unloaded while in use"; fi
echo "ok: wlc refused to unload while in use"
ipvs -C
topo_down
rmmod ip_vs_wlc_rs
echo "ok: wlc unloaded after the service was removed"
