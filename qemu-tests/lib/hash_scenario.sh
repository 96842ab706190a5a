# The differential scenario of the hashing schedulers sh and mh (tests/lvs_sh.sh, lvs_mh.sh):
# the same keys (client address, and port with the SCHED-port flag) through the Rust module
# and the C module, before and after a server is quiesced, deleted and added back; the
# server of every key must be the same. Sourced after common.sh and lvs_scenario.sh.
#
#   cl (64 addresses, fixed source ports) --- lb (NAT service, SCHED) --- rs1 rs2 rs3 rs4
#
# Each run (one implementation, one case) on a service of its own port: rs1..rs4 of weights 1,
# 2, 3, 4 in list order; HASH_KEYS connections at once (client.py's burst: hashing reads no
# load, so the order does not matter) per step, one per client address in turn, from source
# ports that are the same in the Rust and the C run; each step writes one server name (or
# "error ...") per key to OUT/<case>-<step>:
#   A-all          every server up
#   B-again        the same addresses again (other ports)
#   C-rs2-quiesced rs2 weight 0
#   D-rs2-deleted  rs2 deleted
#   E-rs2-back     rs2 added back (weight 2: at the head of the list now)
#   F-rs4-limit-2  rs4 given an upper threshold of 2 connections (-x 2): 16 long-lived
#                  connections opened one after the other, so that rs4 is flagged overloaded
#                  after its second; its later keys are refused, or with the fallback flag
#                  answered by another server
# Cases: v4 (no flag), v4-port-fallback (SCHED-port and SCHED-fallback), v6 (no flag).

HASH_KEYS=64
HASH_CASES="v4 v4-port-fallback v6"

# hash_run SCHED rust|c CASE OUT PORT PORT_BASE: one run (see the top).
hash_run() {
	local sched=$1 impl=$2 case=$3 out=$4 port=$5 base=$6 family=4 flags="" vip module
	case $case in
	v6*) family=6 ;;
	esac
	case $case in
	*-port-fallback) flags="-b $sched-port,$sched-fallback" ;;
	esac
	vip=$VIP4:$port
	[ "$family" = 6 ] && vip="[$VIP6]:$port"
	module=ip_vs_$sched
	[ "$impl" = rust ] && module=${module}_rs
	mkdir -p "$out"
	client_start "$(vip_addr "$family")" "$port"
	client_from "$(lvs_sources "$family")" >/dev/null
	client_cmd ports "$base" >/dev/null
	{
		echo "-A -t $vip -s $sched $flags"
		for k in 4 3 2 1; do echo "-a -t $vip -r $(rs_of "$family" $k) -m -w $k"; done
	} | ipvs -R
	assert_eq "$impl $sched $case: services bound to $module" 1 "$(cat "/sys/module/$module/refcnt")"
	client_cmd burst $HASH_KEYS >"$out/$case-A-all"
	client_cmd burst $HASH_KEYS >"$out/$case-B-again"
	ipvs -e -t "$vip" -r "$(rs_of "$family" 2)" -m -w 0
	client_cmd burst $HASH_KEYS >"$out/$case-C-rs2-quiesced"
	ipvs -d -t "$vip" -r "$(rs_of "$family" 2)"
	client_cmd burst $HASH_KEYS >"$out/$case-D-rs2-deleted"
	ipvs -a -t "$vip" -r "$(rs_of "$family" 2)" -m -w 2
	client_cmd burst $HASH_KEYS >"$out/$case-E-rs2-back"
	ipvs -e -t "$vip" -r "$(rs_of "$family" 4)" -m -w 4 -x 2
	client_open 16 >"$out/$case-F-rs4-limit-2"
	client_close >/dev/null
	ipvs -Ln --stats -t "$vip"
	client_stop
	ipvs -D -t "$vip"
}

# hash_test SCHED: Rust then C, every case, the checks of each Rust run, and Rust == C.
hash_test() {
	local sched=$1 out impl case port=80 base
	out=$(mktemp -d)
	# shellcheck disable=SC2034 # read by lvs_clients_up (lvs_scenario.sh)
	LVS_CLIENTS=$HASH_KEYS
	topo_up 4
	lb_refuse_at_once
	lvs_clients_up
	for impl in rust c; do
		use_scheduler "$impl" "$sched"
		base=20000
		for case in $HASH_CASES; do
			hash_run "$sched" "$impl" "$case" "$out/$impl" $port $base
			port=$((port + 1))
			base=$((base + 5 * HASH_KEYS))
		done
		unload_schedulers "$sched"
	done
	topo_down
	for case in $HASH_CASES; do hash_check "$sched" "$case" "$out/rust/$case"; done
	same_choices "$sched" "$out/rust" "$out/c"
}

# hash_check SCHED CASE OUT: what a run must show by itself:
#   A: every key answered, every server used
#   without the port flag (the key is the address, the same in every step):
#     B: every address on the server it had
#     C: mh (which places servers by their last weight that was not 0): the other servers'
#        keys stay, rs2's are refused; sh rebuilds its table with rs2's weight 0 (one bucket
#        per round), so most keys move: the share is printed
#   D: no key on rs2; prints the share of the other servers' keys that moved (Maglev moves
#      few; sh rebuilds its whole table from the list)
hash_check() {
	local sched=$1 case=$2 f=$3 moved
	assert_eq "$sched $case: every key answered" $HASH_KEYS "$(grep -c '^rs' "$f-A-all")"
	assert_eq "$sched $case: every server used" 4 "$(grep '^rs' "$f-A-all" | sort -u | wc -l)"
	assert_eq "$sched $case: no key on rs2 once deleted" 0 "$(count rs2 <"$f-D-rs2-deleted")"
	assert_eq "$sched $case: rs4 stops at its threshold of 2" yes \
		"$([ "$(count rs4 <"$f-F-rs4-limit-2")" -le 2 ] && echo yes)"
	case $case in *-port-*) return ;; esac
	assert_eq "$sched $case: each address on its server again" "" \
		"$(diff "$f-A-all" "$f-B-again" | head -3)"
	if [ "$sched" = sh ]; then
		moved=$(paste -d ' ' "$f-A-all" "$f-C-rs2-quiesced" |
			awk '$1 != $2 { m++ } END { printf "%d of %d", m, NR }')
		echo "ok: $sched $case: rs2 quiesced: $moved keys moved (the table rebuilt, as C's)"
	else
		paste -d ' ' "$f-A-all" "$f-C-rs2-quiesced" | awk -v what="$sched $case" '
		$1 == "rs2" && $2 != "error" { bad = bad " key " NR ": rs2 -> " $2 }
		$1 != "rs2" && $2 != $1 { bad = bad " key " NR ": " $1 " -> " $2 }
		END { if (bad != "") { print "FAIL: " what ": rs2 quiesced:" bad; exit 1 } }
		' || fail "$sched $case: rs2 quiesced (above)"
		echo "ok: $sched $case: rs2 quiesced: its keys refused, the others stay"
	fi
	moved=$(paste -d ' ' "$f-A-all" "$f-D-rs2-deleted" |
		awk '$1 != "rs2" { n++; if ($1 != $2) m++ } END { printf "%d of %d", m, n }')
	echo "ok: $sched $case: rs2 deleted: $moved keys of the other servers moved"
}
