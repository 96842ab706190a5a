#!/bin/bash
# Switching a live service between the Rust wlc and the Rust wrr (ipvsadm -E -s) under
# traffic: every connection is served, except that IPVS itself refuses a new connection that
# arrives while it has unbound the old scheduler and waits for an RCU grace period before
# binding the new one (svc->scheduler is NULL then; the same with the C schedulers): at most one
# refusal per switch, nothing else (no reset, no timeout, no kernel error). IPVS moves its
# module reference from one module to the other, and both modules unload once the service is
# gone. Exercises init_service/done_service and the
# per-service state freed after an RCU grace period while the packet path may still read it.
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"

unload_schedulers wlc
unload_schedulers wrr
insmod "$(rust_module wlc)"
insmod "$(rust_module wrr)"
topo_up 3
{
	echo "-A -t $VIP4:80 -s wlc"
	for k in 1 2 3; do echo "-a -t $VIP4:80 -r $(rs_addr4 $k):$RS_PORT -m -w $k"; done
} | ipvs -R

ip netns exec cl /usr/bin/python3 -I -S "$LIB/client.py" "$VIP4" 80 <<<"short 150" >/tmp/traffic.txt &
traffic=$!
switches=0
while kill -0 $traffic 2>/dev/null; do
	ipvs -E -t "$VIP4:80" -s wrr
	ipvs -E -t "$VIP4:80" -s wlc
	switches=$((switches + 2))
done
wait $traffic
echo "ok: $switches scheduler switches during the traffic"
[ "$switches" -ge 4 ] || fail "the traffic ended before the schedulers were switched"
answered=$(grep -c '^rs' /tmp/traffic.txt || true)
refused=$(grep -c '^error .*Connection refused' /tmp/traffic.txt || true)
grep -v '^rs' /tmp/traffic.txt || true
assert_eq "connections answered or refused" 150 $((answered + refused))
[ "$refused" -le "$switches" ] || fail "$refused connections refused for $switches switches"
echo "ok: $answered answered, $refused refused during $switches switches"

assert_eq "references on ip_vs_wlc_rs (in use)" 1 "$(cat /sys/module/ip_vs_wlc_rs/refcnt)"
assert_eq "references on ip_vs_wrr_rs (switched away)" 0 "$(cat /sys/module/ip_vs_wrr_rs/refcnt)"
rmmod ip_vs_wrr_rs
echo "ok: wrr unloaded while the service uses wlc"
if rmmod ip_vs_wlc_rs 2>/dev/null; then fail "wlc unloaded while in use"; fi
echo "ok: wlc refused to unload while in use"
ipvs -C
topo_down
rmmod ip_vs_wlc_rs
echo "ok: wlc unloaded after the service was removed"
