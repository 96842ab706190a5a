# The wlc scenario: three real servers with weights 1:2:3 behind a NAT virtual service,
# long-lived connections opened in steps with configuration changes in between, then short and
# long-lived connections interleaved; first over
# IPv4, then over IPv6, in one topology. Each step's server names go to OUT/v<family>-<step>.

# wlc_scenario rust|c OUT
wlc_scenario() {
	local impl=$1 out=$2 family vip k module
	mkdir -p "$out"
	topo_up 3
	use_scheduler "$impl" wlc
	module=$([ "$impl" = rust ] && echo ip_vs_wlc_rs || echo ip_vs_wlc)
	for family in 4 6; do
		vip=$(vip_of $family)
		client_start "$(vip_addr $family)" 80
		# One ipvsadm process for the whole service (-R reads ipvsadm commands from stdin).
		{
			echo "-A -t $vip -s wlc"
			for k in 1 2 3; do echo "-a -t $vip -r $(rs_of $family $k) -m -w $k"; done
		} | ipvs -R
		# The service must hold the implementation we loaded, and only that one.
		assert_eq "$impl: references on $module" 1 "$(cat /sys/module/$module/refcnt)"

		client_open 60 >"$out/v$family-A-weights-1-2-3"
		ipvs -e -t "$vip" -r "$(rs_of $family 1)" -m -w 0
		client_open 10 >"$out/v$family-B-rs1-weight-0"
		ipvs -e -t "$vip" -r "$(rs_of $family 1)" -m -w 1
		client_open 12 >"$out/v$family-C-rs1-weight-1-again"
		ipvs -d -t "$vip" -r "$(rs_of $family 3)"
		client_open 12 >"$out/v$family-D-rs3-deleted"
		# Short connections interleaved with long-lived ones: each short one leaves an
		# inactive connection behind, which the overhead counts (activeconns * 256 +
		# inactconns), so they steer the long-lived ones differently than weights alone.
		{
			client_short 6
			client_open 3
			client_short 6
			client_open 3
		} >"$out/v$family-E-short-and-long"
		ipvs -Ln --stats
		client_stop
		ipvs -C
	done
	topo_down
	unload_schedulers wlc
}

# check_wlc_scenario OUT_RUST OUT_C: exact counts per step, and Rust == C connection by connection.
check_wlc_scenario() {
	local rust=$1 c=$2 family
	for family in 4 6; do
		assert_eq "IPv$family weights 1:2:3, 60 long-lived connections" 10/20/30 \
			"$(counts "rs1 rs2 rs3" <"$rust/v$family-A-weights-1-2-3")"
		assert_eq "IPv$family rs1 quiesced (weight 0), 10 more" 0/4/6 \
			"$(counts "rs1 rs2 rs3" <"$rust/v$family-B-rs1-weight-0")"
		assert_eq "IPv$family rs1 back to weight 1, 12 more" 4/3/5 \
			"$(counts "rs1 rs2 rs3" <"$rust/v$family-C-rs1-weight-1-again")"
		assert_eq "IPv$family rs3 deleted with connections open, 12 more" 4/8/0 \
			"$(counts "rs1 rs2 rs3" <"$rust/v$family-D-rs3-deleted")"
		assert_eq "IPv$family short and long-lived interleaved: 18 served, none by rs3" "18 0" \
			"$(grep -c '^rs' "$rust/v$family-E-short-and-long") $(grep -c '^rs3' "$rust/v$family-E-short-and-long")"
	done
	same_choices wlc "$rust" "$c"
}
