# The wlc scenario shared by the IPv4 and IPv6 tests: three real servers with weights 1:2:3
# behind a NAT virtual service, long-lived connections opened in steps with configuration
# changes in between. Each step's server names are written to OUT/<step>, one per connection.

# wlc_scenario rust|c 4|6 OUT
wlc_scenario() {
	local impl=$1 family=$2 out=$3 vip rs k module
	mkdir -p "$out"
	topo_up 3
	use_scheduler "$impl" wlc
	if [ "$family" = 6 ]; then
		vip="[$VIP6]:80"
		for k in 1 2 3; do rs[$k]="[$(rs_addr6 $k)]:$RS_PORT"; done
		client_start "$VIP6" 80
	else
		vip="$VIP4:80"
		for k in 1 2 3; do rs[$k]="$(rs_addr4 $k):$RS_PORT"; done
		client_start "$VIP4" 80
	fi
	# One ipvsadm process for the whole service (-R reads ipvsadm commands from stdin).
	{
		echo "-A -t $vip -s wlc"
		for k in 1 2 3; do echo "-a -t $vip -r ${rs[$k]} -m -w $k"; done
	} | ipvs -R

	# The service must hold the implementation we loaded, and only that one.
	module=$([ "$impl" = rust ] && echo ip_vs_wlc_rs || echo ip_vs_wlc)
	assert_eq "$impl: references on $module" 1 "$(cat /sys/module/$module/refcnt)"

	client_open 60 >"$out/A-weights-1-2-3"
	ipvs -e -t "$vip" -r "${rs[1]}" -m -w 0
	client_open 10 >"$out/B-rs1-weight-0"
	ipvs -e -t "$vip" -r "${rs[1]}" -m -w 1
	client_open 12 >"$out/C-rs1-weight-1-again"
	ipvs -d -t "$vip" -r "${rs[3]}"
	client_open 12 >"$out/D-rs3-deleted"
	ipvs -Ln --stats
	ipvs -Ln

	client_stop
	ipvs -C
	topo_down
	unload_schedulers wlc
}

# check_wlc_scenario OUT_RUST OUT_C: exact counts per step, and Rust == C connection by connection.
check_wlc_scenario() {
	local rust=$1 c=$2 step
	assert_eq "weights 1:2:3, 60 long-lived connections" 10/20/30 \
		"$(counts "rs1 rs2 rs3" <"$rust/A-weights-1-2-3")"
	assert_eq "rs1 quiesced (weight 0), 10 more" 0/4/6 \
		"$(counts "rs1 rs2 rs3" <"$rust/B-rs1-weight-0")"
	assert_eq "rs1 back to weight 1, 12 more" 4/3/5 \
		"$(counts "rs1 rs2 rs3" <"$rust/C-rs1-weight-1-again")"
	assert_eq "rs3 deleted with connections open, 12 more" 4/8/0 \
		"$(counts "rs1 rs2 rs3" <"$rust/D-rs3-deleted")"
	for step in A-weights-1-2-3 B-rs1-weight-0 C-rs1-weight-1-again D-rs3-deleted; do
		if ! diff -u "$c/$step" "$rust/$step"; then
			fail "step $step: the Rust wlc chose differently from the C wlc (diff above)"
		fi
		echo "ok: step $step: Rust and C chose the same server for all $(wc -l <"$rust/$step") connections"
	done
}
