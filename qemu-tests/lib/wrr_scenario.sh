# The wrr scenario: one topology with four real servers, a series of services with different
# weight vectors, short connections. Each case's server names go to OUT/<case>.

# wrr_service FAMILY WEIGHTS...: (re)create the service with real servers rs1.. in list order
# rs1, rs2, ... (IPVS puts a new server at the head of the list, so add them in reverse).
wrr_service() {
	local family=$1 k
	shift
	local weights=("$@")
	ipvs -C
	{
		echo "-A -t $(vip_of "$family") -s wrr"
		for ((k = ${#weights[@]}; k >= 1; k--)); do
			echo "-a -t $(vip_of "$family") -r $(rs_of "$family" $k) -m -w ${weights[$((k - 1))]}"
		done
	} | ipvs -R
}


# wrr_scenario rust|c OUT
wrr_scenario() {
	local impl=$1 out=$2 family
	mkdir -p "$out"
	topo_up 4
	use_scheduler "$impl" wrr
	for family in 4 6; do
		client_start "$(vip_addr $family)" 80
		wrr_service $family 1 1 1
		module=$([ "$impl" = rust ] && echo ip_vs_wrr_rs || echo ip_vs_wrr)
		assert_eq "$impl: references on $module" 1 "$(cat /sys/module/$module/refcnt)"
		client_short 9 >"$out/v$family-equal"
		wrr_service $family 4 3 2
		client_short 18 >"$out/v$family-4-3-2"
		# Weight edits in the middle of a cycle.
		client_short 7 >"$out/v$family-edit"
		ipvs -e -t "$(vip_of $family)" -r "$(rs_of $family 1)" -m -w 1
		ipvs -e -t "$(vip_of $family)" -r "$(rs_of $family 3)" -m -w 5
		client_short 14 >>"$out/v$family-edit"
		if [ $family = 4 ]; then
			wrr_service $family 2 0 1 0
			client_short 9 >"$out/v$family-zeros"
			wrr_service $family 1 1 20
			client_short 44 >"$out/v$family-huge"
			wrr_service $family 0 0 0
			client_short 2 >"$out/v$family-all-zero"
		fi
		ipvs -Ln --stats
		client_stop
		ipvs -C
	done
	topo_down
	unload_schedulers wrr
}

# check_wrr_scenario OUT_RUST OUT_C
check_wrr_scenario() {
	local rust=$1 c=$2 family
	for family in 4 6; do
		assert_eq "IPv$family weights 1,1,1" "rs1 rs2 rs3 rs1 rs2 rs3 rs1 rs2 rs3" \
			"$(xargs <"$rust/v$family-equal")"
		# The LVS paper's example: weights 4,3,2 for A,B,C repeat AABABCABC. The servers are
		# added one by one, so the first cycle may start part-way (C's dest_changed keeps the
		# current weight): 18 picks are two periods of a rotation of that cycle.
		local cycle="rs1 rs1 rs2 rs1 rs2 rs3 rs1 rs2 rs3" seq first second
		seq=$(xargs <"$rust/v$family-4-3-2")
		first=$(echo "$seq" | cut -d' ' -f1-9)
		second=$(echo "$seq" | cut -d' ' -f10-18)
		assert_eq "IPv$family weights 4,3,2: period of 9 picks" "$first" "$second"
		case " $cycle $cycle " in
		*" $first "*) echo "ok: IPv$family weights 4,3,2: $first is a rotation of AABABCABC" ;;
		*) fail "IPv$family weights 4,3,2: $first is not a rotation of $cycle" ;;
		esac
	done
	assert_eq "weights 2,0,1,0: 3 cycles" 6/0/3/0 "$(counts "rs1 rs2 rs3 rs4" <"$rust/v4-zeros")"
	assert_eq "weights 1,1,20: 2 cycles" 2/2/40 "$(counts "rs1 rs2 rs3" <"$rust/v4-huge")"
	assert_eq "all weights 0: no server" "0 2" \
		"$(echo "$(grep -c '^rs' "$rust/v4-all-zero") $(grep -c '^error' "$rust/v4-all-zero")")"
	dmesg | grep -q "wrr: TCP $VIP4:80 - no destination available" ||
		fail "no 'no destination available' in the kernel log"
	echo "ok: kernel log: $(dmesg | grep -m1 "wrr: TCP $VIP4:80 - no destination available")"
	same_choices wrr "$rust" "$c"
}
