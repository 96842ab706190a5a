#!/bin/bash
# Rust twos (power of two random choices) against the kernel's C twos. The choice is random,
# so the test compares distributions: IPv4 and IPv6 NAT services with rs1..rs4 of weights
# 1, 2, 3 and 0, 300 short connections from 32 client addresses through each implementation.
# Each must send none to the server of weight 0, give every other server its share of the
# weights within bounds, and the two implementations' counts must not differ more than
# chance allows (chi-square test of homogeneity, 2 degrees of freedom, p < 0.001 fails).
# A scheduler that ignores the weights fails the share bounds: rr's 100/100/100 is outside
# rs1's 50 +- 26.
# modules: ip_vs_twos_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/lvs_scenario.sh"
N=300
out=$(mktemp -d)
topo_up 4
lvs_clients_up
port=80
for impl in rust c; do
	use_scheduler "$impl" twos
	for family in 4 6; do
		vip=$(vip_addr $family):$port
		[ $family = 6 ] && vip="[$(vip_addr 6)]:$port"
		client_start "$(vip_addr $family)" $port
		client_from "$(lvs_sources $family)" >/dev/null
		{
			echo "-A -t $vip -s twos"
			for k in 4 3 2 1; do echo "-a -t $vip -r $(rs_of $family $k) -m -w $((k % 4))"; done
		} | ipvs -R
		client_short $N >"$out/$impl-v$family"
		ipvs -Ln --stats -t "$vip"
		client_stop
		ipvs -D -t "$vip"
		port=$((port + 1))
	done
	unload_schedulers twos
done
topo_down

for family in 4 6; do
	rust=$(counts "rs1 rs2 rs3 rs4" <"$out/rust-v$family")
	c=$(counts "rs1 rs2 rs3 rs4" <"$out/c-v$family")
	echo "IPv$family: served by rs1/rs2/rs3/rs4 (weights 1/2/3/0): Rust $rust, C $c"
	for impl in rust c; do
		assert_eq "$impl twos v$family: every connection answered" $N \
			"$(grep -c '^rs' "$out/$impl-v$family")"
		assert_eq "$impl twos v$family: none to the server of weight 0" 0 \
			"$(count rs4 <"$out/$impl-v$family")"
	done
	# Each server's count within 4 standard deviations of the weight's share (binomial: two
	# random choices balance better than that, never worse), and Rust against C.
	awk -v rust="$rust" -v c="$c" -v n=$N -v fam="$family" 'BEGIN {
		split(rust, r, "/"); split(c, q, "/"); split("1 2 3", w, " ")
		bad = 0
		for (k = 1; k <= 3; k++) {
			p = w[k] / 6; sd = sqrt(n * p * (1 - p))
			for (i = 0; i < 2; i++) {
				got = i ? q[k] : r[k]
				if (got < n * p - 4 * sd || got > n * p + 4 * sd) {
					printf "FAIL: IPv%s %s: rs%d served %d, share %d +- %d\n", fam, i ? "C" : "Rust", k, got, n * p, 4 * sd
					bad = 1
				}
			}
			pooled = (r[k] + q[k]) / (2 * n)
			if (pooled > 0) chi += ((r[k] - n * pooled) ^ 2 + (q[k] - n * pooled) ^ 2) / (n * pooled)
		}
		printf "IPv%s: chi-square Rust vs C = %.2f (fails above 13.82)\n", fam, chi
		if (chi > 13.82) { print "FAIL: Rust and C distributions differ"; bad = 1 }
		exit bad
	}' || fail "twos v$family: distribution (above)"
	echo "ok: twos v$family: weights respected, Rust and C alike"
done
