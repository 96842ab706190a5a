#!/bin/bash
# The Rust wlc registers the name "wlc" in place of the C module, IPVS holds it while a
# service uses it, and it unloads cleanly afterwards.
# modules: ip_vs_wlc_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"

unload_schedulers wlc
insmod "$(rust_module wlc)"
assert_eq "module description" "ipvs weighted least connection scheduler (Rust)" \
	"$(modinfo -F description "$(rust_module wlc)")"
assert_eq "references before use" 0 "$(cat /sys/module/ip_vs_wlc_rs/refcnt)"

# The C module cannot register the same name while ours is loaded.
if insmod "$(c_module wlc)" 2>$TMPDIR/insmod.err; then
	fail "the C wlc registered while the Rust wlc holds the name"
fi
echo "ok: C wlc refused while Rust wlc is registered: $(cat $TMPDIR/insmod.err)"

topo_up 0 # client and director, no real server
ip netns exec lb ipvsadm -A -t 198.18.0.1:80 -s wlc
ip netns exec lb ipvsadm -A -t [2001:db8::1]:80 -s wlc
assert_eq "scheduler shown by ipvsadm" "wlc wlc" \
	"$(ip netns exec lb ipvsadm -Ln | awk '/^TCP/ {print $3}' | xargs)"
assert_eq "references with two services" 2 "$(cat /sys/module/ip_vs_wlc_rs/refcnt)"
if lsmod | grep -q '^ip_vs_wlc '; then fail "the C wlc got loaded"; fi

# A service with no real server: no destination, the connection is refused, the log says why.
if ip netns exec cl bash -c 'exec 3<>/dev/tcp/198.18.0.1/80' 2>/dev/null; then
	fail "a connection was accepted with no real server"
fi
wait_for "scheduler error in the kernel log" \
	sh -c 'dmesg | grep -q "wlc: TCP 198.18.0.1:80 - no destination available"'
echo "ok: $(dmesg | grep -m1 'no destination available')"

if rmmod ip_vs_wlc_rs 2>$TMPDIR/rmmod.err; then fail "rmmod succeeded while in use"; fi
grep -q "in use" $TMPDIR/rmmod.err || fail "rmmod failed for another reason: $(cat $TMPDIR/rmmod.err)"
echo "ok: rmmod refused while in use: $(cat $TMPDIR/rmmod.err)"

ip netns exec lb ipvsadm -D -t 198.18.0.1:80
assert_eq "references after one service is deleted" 1 "$(cat /sys/module/ip_vs_wlc_rs/refcnt)"
# Deleting the namespace tears down the other service.
topo_down
wait_for "last reference dropped" module_unused ip_vs_wlc_rs
rmmod ip_vs_wlc_rs
echo "ok: unloaded"
