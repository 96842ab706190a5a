# The kernel's own IPVS selftest (tools/testing/selftests/net/netfilter/ipvs.sh: DR, NAT and
# tunnel forwarding through a bridge, one real server), written for the C rr, run with a Rust
# scheduler swapped in for rr: the script's three "-s rr" rewritten, and its time bounds
# scaled by SLH_TIME_SCALE (below), nothing else. About 45 s
# per scheduler under TCG, so the fourteen are split over two tests, which run in parallel
# lanes. Sourced by tests/upstream_ipvs*.sh after lib/common.sh.

# upstream_ipvs_with NAME...: ipvs.sh passes with each Rust scheduler NAME, loaded alone
# (its C twin unloaded), and the module unloads after it.
upstream_ipvs_with() {
	local selftests=$SLH_KBUILD/slh-selftests/net name failed=0 script
	# Upstream's bounds assume real hardware: the client's 2 s (socat under `timeout`, which
	# kills it without a word), the server's 5 s and 0.2 s for it to listen. They are scaled
	# as ours are (time_bound; unchanged on the test kernel): on the sanitizer kernel, with
	# the other lane busy, fo's run once ended in a bare FAIL, no error printed.
	local client_s server_s listen_s
	client_s=$(time_bound 2) server_s=$(time_bound 5) listen_s=$(time_bound 0.2)
	[ -f "$selftests/netfilter/ipvs.sh" ] || fail "$selftests is missing: run scripts/selftests.sh on the host"
	cp -r "$selftests" "$TMPDIR/net"
	for name in "$@"; do
		unload_schedulers "$name"
		insmod "$(rust_module "$name")"
		script=$TMPDIR/net/netfilter/ipvs_$name.sh
		sed -e "s/ -s rr\$/ -s $name/" -e "s/timeout 2 socat/timeout $client_s socat/" \
			-e "s/timeout 5 socat/timeout $server_s socat/" -e "s/^\tsleep 0\.2\$/\tsleep $listen_s/" \
			"$selftests/netfilter/ipvs.sh" >"$script"
		[ "$(grep -c -- "-s $name\$" "$script")" -eq 3 ] ||
			fail "ipvs.sh does not have the three '-s rr' (DR, NAT, tunnel) this test swaps"
		grep -q "timeout $client_s socat" "$script" && grep -q "timeout $server_s socat" "$script" &&
			grep -q "^.sleep $listen_s\$" "$script" ||
			fail "ipvs.sh does not have the client's and the server's timeouts this test scales"
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
