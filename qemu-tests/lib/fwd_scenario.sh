# The forwarding-method scenario: wrr and lblc behind one forwarding method (nat, dr or tun),
# three real servers, two services at once (VIP 1: wrr 3,2,1; VIP 2: lblc 1,1,1). Each case's
# server names go to OUT/<case>; checks of the forwarding path are made on the spot.

# fwd_scenario METHOD WRR_IMPL LBLC_IMPL OUT   (an implementation is rust or c)
fwd_scenario() {
	local method=$1 wrr_impl=$2 lblc_impl=$3 out=$4 vip1 vip2 vip k f
	local conns conns2 inpkts outpkts line stats seen="" i
	vip1=$(fwd_vip 1)
	vip2=$(fwd_vip 2)
	mkdir -p "$out"
	fwd_topo_up "$method" 3
	use_scheduler "$wrr_impl" wrr
	use_scheduler "$lblc_impl" lblc
	{
		fwd_service "$method" "$vip1" wrr "" 3 2 1
		fwd_service "$method" "$vip2" lblc "" 1 1 1
	} | ipvs -R
	# Each service holds the implementation we loaded, and only that one.
	check_impl wrr "$wrr_impl" 1
	check_impl lblc "$lblc_impl" 1
	fwd_check_method "$method"

	client_start "$vip1" "$FWD_PORT"
	# wrr 3,2,1: two periods of the 6-pick cycle.
	client_short 12 >"$out/wrr-3-2-1"
	# lblc: the key is the destination address, the VIP: every connection goes to the server
	# of the table entry until it has more active connections than its weight while another
	# has less than half its weight; then the least-connection server replaces it in the entry.
	client_to "$vip2"
	client_open 8 >"$out/lblc-A-open"
	client_close
	fwd_wait_idle "$vip2"
	client_short 6 >"$out/lblc-B-after-close"
	# The entry's server quiesced (weight 0): the entry is re-pointed at the least loaded.
	ipvs -e -t "$vip2:$FWD_PORT" -r "$(rs_addr4 3):$FWD_PORT" "$(fwd_flag "$method")" -w 0
	client_short 4 >"$out/lblc-C-rs3-weight-0"
	client_stop

	for f in "$out"/*; do echo "$method, $wrr_impl wrr, $lblc_impl lblc: ${f##*/}: $(words "$f")"; done

	# The forwarding path: the director sees the replies only in NAT. IPVS sums its per-CPU
	# counters every 2 s (the estimator): wait for every connection to be counted.
	for ((i = 0; i < 20; i++)); do
		stats=$(ipvs -Ln --stats --exact)
		read -r conns _ <<<"$(fwd_stats "$vip1" <<<"$stats")"
		read -r conns2 _ <<<"$(fwd_stats "$vip2" <<<"$stats")"
		[ "$conns" -lt 12 ] || [ "$conns2" -lt 18 ] || break
		sleep 0.5
	done
	echo "$stats"
	for vip in "$vip1" "$vip2"; do
		read -r conns inpkts outpkts <<<"$(fwd_stats "$vip" <<<"$stats")"
		case $vip in
		"$vip1") assert_eq "$method: connections through $vip" 12 "$conns" ;;
		*) assert_eq "$method: connections through $vip" 18 "$conns" ;;
		esac
		[ "$inpkts" -ge $((3 * conns)) ] || fail "$method: $vip: only $inpkts packets in for $conns connections"
		if [ "$method" = nat ]; then
			[ "$outpkts" -ge $((2 * conns)) ] || fail "nat: $vip: only $outpkts replies through the director"
			echo "ok: nat: $vip: the director forwarded $inpkts packets in and $outpkts replies out"
		else
			assert_eq "$method: $vip: replies through the director" 0 "$outpkts"
		fi
	done
	if [ "$method" != nat ]; then
		# ... and in DR and TUN every real server's replies reached the client on its own link.
		while read -r line; do
			case $line in
			[0-9]*": s"[0-9]"@"*)
				k=${line#*: s}
				k=${k%%@*}
				[ "$(rx_packets "$line")" -gt 0 ] || fail "$method: no reply from rs$k on cl's link s$k"
				echo "ok: $method: rs$k replied on its own link to the client ($(rx_packets "$line") packets)"
				seen="$seen$k"
				;;
			esac
		done < <(ip -n cl -s -o link)
		assert_eq "$method: cl's links to the real servers" 123 "$seen"
	fi
	if [ "$method" = tun ]; then
		# ... and in TUN the real servers received the connections in IPIP on tunl0.
		for k in 1 2 3; do
			line=$(ip -n "rs$k" -s -o link show dev tunl0)
			[ "$(rx_packets "$line")" -gt 0 ] || fail "tun: rs$k received nothing on tunl0"
			echo "ok: tun: rs$k decapsulated $(rx_packets "$line") packets on tunl0"
		done
	fi
	ipvs -C
	topo_down
	unload_schedulers wrr
	unload_schedulers lblc
}

# check_fwd_scenario METHOD OUT_RUST OUT_C: exact choices, and Rust == C connection by connection.
check_fwd_scenario() {
	local method=$1 rust=$2 c=$3 cycle="rs1 rs1 rs2 rs1 rs2 rs3" picks
	read -ra picks <<<"$(words "$rust/wrr-3-2-1")"
	assert_eq "$method: wrr 3,2,1 over 12 connections" 6/4/2 "$(tally "rs1 rs2 rs3" "${picks[@]}")"
	# Weights 3,2,1 repeat rs1 rs1 rs2 rs1 rs2 rs3; the servers are added one by one, so the
	# first cycle may start part-way: 12 picks are two periods of a rotation of that cycle.
	local first="${picks[*]:0:6}" second="${picks[*]:6:6}"
	assert_eq "$method: wrr 3,2,1: period of 6 picks" "$first" "$second"
	case " $cycle $cycle " in
	*" $first "*) echo "ok: $method: wrr 3,2,1: $first is a rotation of $cycle" ;;
	*) fail "$method: wrr 3,2,1: $first is not a rotation of $cycle" ;;
	esac
	# rs1 takes 2 (active 2 > weight 1, rs2 idle: overloaded), rs2 takes 2, then rs3 keeps
	# everything: once no server has fewer than half its weight, nothing counts as overloaded.
	assert_eq "$method: lblc 1,1,1: 8 long-lived connections to one VIP" \
		"rs1 rs1 rs2 rs2 rs3 rs3 rs3 rs3" "$(words "$rust/lblc-A-open")"
	assert_eq "$method: lblc: after closing them, 6 short connections stay on the entry's server" \
		"rs3 rs3 rs3 rs3 rs3 rs3" "$(words "$rust/lblc-B-after-close")"
	# rs1 and rs2 each have 2 inactive connections, rs3 has 10: rs1, the first least loaded.
	assert_eq "$method: lblc: rs3 quiesced, 4 more connections" \
		"rs1 rs1 rs1 rs1" "$(words "$rust/lblc-C-rs3-weight-0")"
	same_choices "wrr and lblc ($method)" "$rust" "$c"
}
