# The differential scenario of the LVS schedulers (tests/lvs_*.sh): the same connections,
# through the same configuration changes, with the Rust module and then with the C module of
# one scheduler; the servers chosen must be the same, connection by connection.
# Sourced after common.sh.
#
#   cl (32 addresses) --- lb (NAT virtual service, SCHED) --- rs1 rs2 rs3 rs4
#
# Each run (one implementation, one address family) on a service of its own port goes
# through these steps, each writing one server name (or "error ...") per connection to
# OUT/v<family>-<step>; connections are long-lived unless the step says short, and come from
# the 32 client addresses in turn:
#   A-weights-1-2-3       rs1 w1, rs2 w2 with thresholds -x 6 -y 3, rs3 w3: 12 connections
#   B-rs1-quiesced        rs1 weight 0: 6 more
#   C-rs1-weight-4        rs1 weight 4: 8 more
#   D-rs3-deleted         rs3 deleted with its connections open: 6 more
#   E-rs4-added           rs4 (weight 2) added: 8 more
#   F-short-and-long      short and long-lived connections interleaved (6 + 3 + 6 + 3)
#   G-closed              every connection closed, then 8 short ones
# rs2's upper threshold makes IPVS flag it overloaded once it holds 6 connections, and clear
# the flag when it drops to 3: the schedulers must pass a flagged server over as C does.

LVS_CLIENTS=32

# lvs_clients_up: the client's extra addresses, 198.18.0.100-131 and 2001:db8::100-131.
lvs_clients_up() {
	local k
	for ((k = 100; k < 100 + LVS_CLIENTS; k++)); do
		echo "addr add 198.18.0.$k/24 dev veth0"
		echo "addr add 2001:db8::$k/64 dev veth0 nodad"
	done | ip -n cl -batch -
}

# lvs_sources FAMILY: the client addresses of FAMILY, comma-separated (client.py's "from").
lvs_sources() {
	local k list=""
	for ((k = 100; k < 100 + LVS_CLIENTS; k++)); do
		if [ "$1" = 6 ]; then list="$list,2001:db8::$k"; else list="$list,198.18.0.$k"; fi
	done
	echo "${list#,}"
}

# lvs_run SCHED rust|c FAMILY OUT PORT: one run (see the top) on a topology of 4 servers.
lvs_run() {
	local sched=$1 impl=$2 family=$3 out=$4 port=$5 vip module
	vip=$(vip_addr "$family"):$port
	[ "$family" = 6 ] && vip="[$(vip_addr 6)]:$port"
	module=ip_vs_$sched
	[ "$impl" = rust ] && module=${module}_rs
	mkdir -p "$out"
	client_start "$(vip_addr "$family")" "$port"
	client_from "$(lvs_sources "$family")" >/dev/null
	# rs1 rs2 rs3 in list order (IPVS adds a server at the head of the list).
	{
		echo "-A -t $vip -s $sched"
		echo "-a -t $vip -r $(rs_of "$family" 3) -m -w 3"
		echo "-a -t $vip -r $(rs_of "$family" 2) -m -w 2 -x 6 -y 3"
		echo "-a -t $vip -r $(rs_of "$family" 1) -m -w 1"
	} | ipvs -R
	assert_eq "$impl $sched v$family: services bound to $module" 1 "$(cat "/sys/module/$module/refcnt")"
	client_open 12 >"$out/v$family-A-weights-1-2-3"
	ipvs -e -t "$vip" -r "$(rs_of "$family" 1)" -m -w 0
	client_open 6 >"$out/v$family-B-rs1-quiesced"
	ipvs -e -t "$vip" -r "$(rs_of "$family" 1)" -m -w 4
	client_open 8 >"$out/v$family-C-rs1-weight-4"
	ipvs -d -t "$vip" -r "$(rs_of "$family" 3)"
	client_open 6 >"$out/v$family-D-rs3-deleted"
	ipvs -a -t "$vip" -r "$(rs_of "$family" 4)" -m -w 2
	client_open 8 >"$out/v$family-E-rs4-added"
	{
		client_short 6
		client_open 3
		client_short 6
		client_open 3
	} >"$out/v$family-F-short-and-long"
	client_close >/dev/null
	client_short 8 >"$out/v$family-G-closed"
	ipvs -Ln --stats -t "$vip"
	client_stop
	ipvs -D -t "$vip"
}

# lvs_test SCHED: the whole test of SCHED: Rust then C, IPv4 and IPv6, the checks of each
# run, and Rust == C. Each run has a port of its own: a deleted service's servers wait in
# IPVS's trash with their connection counts, and a new service at the same address and port
# would take them back.
lvs_test() {
	local sched=$1 out impl family port=80
	out=$(mktemp -d)
	topo_up 4
	lb_refuse_at_once
	lvs_clients_up
	for impl in rust c; do
		use_scheduler "$impl" "$sched"
		for family in 4 6; do
			lvs_run "$sched" "$impl" $family "$out/$impl" $port
			port=$((port + 1))
		done
		unload_schedulers "$sched"
	done
	topo_down
	for family in 4 6; do lvs_check "$sched" $family "$out/rust"; done
	same_choices "$sched" "$out/rust" "$out/c"
}

# lvs_check SCHED FAMILY OUT: what a run must show by itself, for every scheduler: a quiesced
# server and a deleted one get no new connection, and the first 6 connections are answered
# (ovf refuses connections once every server has more active ones than its weight: 9 here).
lvs_check() {
	local sched=$1 family=$2 out=$3/v$2
	assert_eq "$sched v$family: the first 6 connections answered" 6 \
		"$(head -6 "$out-A-weights-1-2-3" | grep -c '^rs')"
	assert_eq "$sched v$family: none to rs1 at weight 0" 0 "$(count rs1 <"$out-B-rs1-quiesced")"
	assert_eq "$sched v$family: none to rs3 once deleted" 0 \
		"$(cat "$out-D-rs3-deleted" "$out-E-rs4-added" "$out-F-short-and-long" "$out-G-closed" | count rs3)"
}
