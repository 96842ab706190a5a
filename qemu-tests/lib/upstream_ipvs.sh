# The kernel's own IPVS selftest (tools/testing/selftests/net/netfilter/ipvs.sh: DR, NAT and
# tunnel forwarding through a bridge, one real server), written for the C rr, run with a Rust
# scheduler swapped in for rr: the script's three "-s rr" rewritten, nothing else. About 45 s
# per scheduler under TCG, so the fourteen are split over two tests, which run in parallel
# lanes. Sourced by tests/upstream_ipvs*.sh after lib/common.sh.

# upstream_ipvs_with NAME...: ipvs.sh passes with each Rust scheduler NAME, loaded alone
# (its C twin unloaded), and the module unloads after it.
upstream_ipvs_with() {
	local selftests=$SLH_KBUILD/slh-selftests/net name failed=0
	[ -f "$selftests/netfilter/ipvs.sh" ] || fail "$selftests is missing: run scripts/selftests.sh on the host"
	cp -r "$selftests" "$TMPDIR/net"
	for name in "$@"; do
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
}
