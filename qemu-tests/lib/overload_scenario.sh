# The overload scenario: upper and lower connection thresholds (ipvsadm -x/-y), which make
# IPVS set IP_VS_DEST_F_OVERLOAD on a server once its connections reach the upper one; every
# scheduler must then pass it over as its C twin does (lblc and lblcr keep a cached server
# that is flagged: they check their own overload rule there, not the flag). Three servers of
# weight 1 behind an IPv4 NAT service, long-lived connections, one client address (the same
# destination for lblc/lblcr); then a server deleted and added back in the middle of the
# traffic. Each step's server names go to OUT/<sched>-<step>.

# overload_scenario SCHED rust|c OUT PORT: on a topology of 3 servers (topo_up 3), a service on
# PORT. Give each run a port of its own: a deleted service's servers wait in IPVS's trash with
# their connection counts, and a new service at the same address and port takes them back.
overload_scenario() {
	local sched=$1 impl=$2 out=$3 port=$4 vip
	vip=$VIP4:$port
	mkdir -p "$out"
	use_scheduler "$impl" "$sched"
	client_start "$(vip_addr 4)" "$port"
	{
		echo "-A -t $vip -s $sched"
		echo "-a -t $vip -r $(rs_of 4 3) -m -w 1"
		echo "-a -t $vip -r $(rs_of 4 2) -m -w 1 -x 2 -y 1"
		echo "-a -t $vip -r $(rs_of 4 1) -m -w 1 -x 4"
	} | ipvs -R
	client_open 12 >"$out/$sched-A-thresholds-4-2-none"
	# Raising rs1's upper threshold above its connections clears its flag at once.
	ipvs -e -t "$vip" -r "$(rs_of 4 1)" -m -w 1 -x 8
	client_open 6 >"$out/$sched-B-rs1-raised-to-8"
	# rs3's flag is set by the next connection it takes; then everyone is full and the
	# service answers with ICMP port unreachable (the client sees "error").
	ipvs -e -t "$vip" -r "$(rs_of 4 3)" -m -w 1 -x 1
	client_open 8 >"$out/$sched-C-rs3-limited-all-full"
	# A weight edit keeps the flag (only a threshold above the count clears it).
	ipvs -e -t "$vip" -r "$(rs_of 4 2)" -m -w 3 -x 2 -y 1
	ipvs -e -t "$vip" -r "$(rs_of 4 3)" -m -w 1 -x 100
	client_open 6 >"$out/$sched-D-rs2-weight-3-rs3-cleared"
	# A server deleted in the middle of a cycle, then added back (IPVS takes it from its
	# trash, with its connections, and without a threshold).
	ipvs -d -t "$vip" -r "$(rs_of 4 1)"
	client_open 4 >"$out/$sched-E-rs1-deleted"
	ipvs -a -t "$vip" -r "$(rs_of 4 1)" -m -w 2
	client_open 6 >"$out/$sched-F-rs1-back-weight-2"
	ipvs -Ln --stats
	client_close >/dev/null
	client_stop
	ipvs -C
	unload_schedulers "$sched"
}

# check_overload_scenario SCHED OUT_RUST OUT_C: wlc and wrr never choose a flagged server
# (lblc and lblcr may keep a cached one); Rust == C connection by connection for all four.
check_overload_scenario() {
	local sched=$1 rust=$2 c=$3 full
	case $sched in
	wlc | wrr)
		# rs1 stops at 4 and rs2 at 2 connections; rs3 takes the rest.
		assert_eq "$sched: thresholds 4, 2, none: 12 connections" 4/2/6 \
			"$(counts "rs1 rs2 rs3" <"$rust/$sched-A-thresholds-4-2-none")"
		assert_eq "$sched: rs2 stays flagged when rs1's threshold is raised" 0 \
			"$(count rs2 <"$rust/$sched-B-rs1-raised-to-8")"
		# Connections are held open: once every server is flagged, every later one is refused.
		full=$rust/$sched-C-rs3-limited-all-full
		assert_eq "$sched: all flagged: refused from then on" "yes 0" \
			"$(grep -q '^error' "$full" && echo yes) $(sed -n '/^error/,$p' "$full" | grep -vc '^error')"
		assert_eq "$sched: rs1 and rs2 flagged (rs2's weight edit keeps it), rs3 cleared" 0/0/6 \
			"$(counts "rs1 rs2 rs3" <"$rust/$sched-D-rs2-weight-3-rs3-cleared")"
		assert_eq "$sched: rs1 deleted" 0 "$(count rs1 <"$rust/$sched-E-rs1-deleted")"
		;;
	esac
	same_choices "$sched" "$rust" "$c"
}
