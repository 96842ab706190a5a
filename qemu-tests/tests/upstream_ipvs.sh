#!/bin/bash
# The kernel's own IPVS selftest (tools/testing/selftests/net/netfilter/ipvs.sh: DR, NAT and
# tunnel forwarding through a bridge), written for the C rr, passes with each Rust scheduler
# swapped in for rr (the script's "-s rr" rewritten, nothing else), and with the Rust rr as it
# is. About 90 s per scheduler under TCG, so the five whose state the glue keeps in different
# ways (none, a place in the list, locality tables with a timer and a sysctl); the other
# schedulers' modules are the same glue with a decision of their own.
# modules: ip_vs_rr_rs ip_vs_wlc_rs ip_vs_wrr_rs ip_vs_lblc_rs ip_vs_lblcr_rs
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"

selftests=$SLH_KBUILD/slh-selftests/net
[ -f "$selftests/netfilter/ipvs.sh" ] || fail "$selftests is missing: run scripts/selftests.sh on the host"
cp -r "$selftests" "$TMPDIR/net"
failed=0
for name in rr wlc wrr lblc lblcr; do
	unload_schedulers "$name"
	insmod "$(rust_module "$name")"
	sed "s/ -s rr\$/ -s $name/" "$selftests/netfilter/ipvs.sh" >"$TMPDIR/net/netfilter/ipvs_$name.sh"
	[ "$(grep -c -- "-s $name\$" "$TMPDIR/net/netfilter/ipvs_$name.sh")" -eq 3 ] ||
		fail "ipvs.sh does not have the three '-s rr' (DR, NAT, tunnel) this test swaps"
	if (cd "$TMPDIR/net/netfilter" && bash "./ipvs_$name.sh") >"$TMPDIR/ipvs_$name.log" 2>&1 &&
		grep -q 'PASS' "$TMPDIR/ipvs_$name.log"; then
		echo "ok: ipvs.sh with $name: $(grep -c '^Testing' "$TMPDIR/ipvs_$name.log") modes, PASS"
	else
		cat "$TMPDIR/ipvs_$name.log"
		echo "not ok: ipvs.sh with $name"
		failed=$((failed + 1))
	fi
	wait_for "$name: last reference dropped" module_unused "ip_vs_${name}_rs"
	rmmod "ip_vs_${name}_rs"
done
[ "$failed" -eq 0 ] || fail "ipvs.sh failed with $failed schedulers"
