# The transparent-cache scenario of the lblc/lblcr tests: a firewall-mark virtual service on the
# director catches TCP port 80 to any destination and spreads the destinations over three
# cache servers (IPVS NAT), replaying the destination addresses of the UMass YouTube trace in
# trace order. Sourced after common.sh.
#
# Set-up (the LVS "transparent cache cluster"): in lb, the mangle table marks what the client
# sends to port 80; `ip rule fwmark` + a local default route deliver the marked packets locally,
# where IPVS takes them for the service `-f MARK`; the client routes everything via lb.
#
# Each run (one implementation, one scheduler, one address family) goes through:
#   replay           every target once per trace occurrence, short connections (none overloaded)
#   hold             HOLD_COUNT connections kept open to targets of $HOT, which then has more
#                    active connections than its weight while the others have none: overloaded
#                    in lblc's sense
#   overload         HOT's targets again: where they go now (the remap)
#   overload-again   the same targets once more: the remap sticks
#   others-overload  targets of the other servers: not overloaded, they stay put
#   released         the held connections closed, HOT's targets once more
# and writes "TARGET SERVER" per connection to OUT/v<family>-<sched>-<step>.
#
# Determinism: IPVS's weighted least-connection counts inactive connections too, and a closed
# connection stays in IPVS's table (TIME_WAIT) for 120 s. The client waits for the server's FIN
# before it connects again, so every earlier connection is inactive when the next one is
# scheduled, and a run must take less than 120 s so that none of its connections has expired
# yet (then what is counted does not depend on the speed of the run). Each run uses a
# firewall mark never used before: IPVS keeps deleted real servers with connections in a
# trash and gives them back, counters included, to a new service with the same mark. The
# client gives every connection a source port of its own (trace_client.py).

TRACE="$SLH_TOP/../shared/data/umass-youtube/youtube.parsed.012908.S1.dat"
TRACE_PREFIX6=2001:db8:ff::   # the IPv6 targets: this /96 + the IPv4 address
CACHE_WEIGHTS=(1 2 3)         # of rs1 rs2 rs3
HOT=rs3                       # the server overloaded
HOLD_COUNT=4                  # > its weight
TRACE_MARK=256                # the rule below routes marks 0x100-0x1ff locally
TRACE_N4=2000                 # IPv4 connections of the replay step (trace order)
TRACE_N6=500                  # IPv6 ones
HOT_LIMIT4=100                # HOT's targets replayed in each overload step, IPv4
HOT_LIMIT6=50                 # and IPv6

trace_require() {
	[ -r "$TRACE" ] || fail "the UMass YouTube trace is missing: no $TRACE (expected in \
../shared/data/umass-youtube/ next to the project, as on CI); this test replays it"
}

# cache_up: topology with three cache servers, the marking and local delivery in lb, and the
# trace client (one process for every connection of the test) in cl.
cache_up() {
	topo_up 3
	ip -n cl -batch - <<-EOF
		route add default via $VIP4
		route add ::/0 via $VIP6
	EOF
	ip -n lb -batch - <<-EOF
		rule add fwmark 0x100/0x100 table 100
		route add local 0.0.0.0/0 dev lo table 100
		route add local ::/0 dev lo table 100
	EOF
	ip -n lb -6 rule add fwmark 0x100/0x100 table 100
	ip netns exec lb iptables-legacy -t mangle -A PREROUTING -i c0 -p tcp --dport 80 \
		-j MARK --set-mark 0x100
	ip netns exec lb ip6tables-legacy -t mangle -A PREROUTING -i c0 -p tcp --dport 80 \
		-j MARK --set-mark 0x100
	coproc TRACECL { ip netns exec cl /usr/bin/python3 -I -S "$LIB/trace_client.py" 80 2>&1; }
}

cache_down() {
	if [ -n "${TRACECL_PID:-}" ]; then
		{ echo quit >&"${TRACECL[1]}"; } 2>/dev/null || true
		wait "$TRACECL_PID" 2>/dev/null || true
	fi
	ipvs -C
	topo_down
}

# trace_cmd COMMAND ARGS...: one command to the trace client; prints its report; fails on an
# error report or if the client does not answer within 10 minutes.
trace_cmd() {
	local line
	echo "$*" >&"${TRACECL[1]}"
	while read -r -t 600 line <&"${TRACECL[0]}"; do
		[ "$line" = "done" ] && return 0
		case $line in error*) fail "trace client: $*: $line" ;; esac
		echo "$line"
	done
	fail "trace client did not answer: $*"
}

# trace_targets TMP N4 N6: TMP/targets4 (the first N4 valid trace destinations) and
# TMP/targets6 (the first N6, mapped into $TRACE_PREFIX6).
trace_targets() {
	local tmp=$1
	mkdir -p "$tmp"
	echo "# trace: $TRACE"
	trace_cmd targets "$TRACE" "$2" "$tmp/targets4"
	trace_cmd targets "$TRACE" "$3" "$tmp/targets6" "$TRACE_PREFIX6"
}

# cache_service FAMILY SCHED: a new service with a new mark (see above), rs1..rs3 in list order
# (IPVS puts a new real server at the head of the list, so they are added in reverse).
cache_service() {
	local family=$1 sched=$2 k six="" ipt=iptables-legacy
	[ "$family" = 6 ] && six=-6 && ipt=ip6tables-legacy
	TRACE_MARK=$((TRACE_MARK + 1))
	ipvs -C
	{
		echo "-A -f $TRACE_MARK $six -s $sched"
		for k in 3 2 1; do
			echo "-a -f $TRACE_MARK $six -r $(rs_of "$family" $k) -m -w ${CACHE_WEIGHTS[$((k - 1))]}"
		done
	} | ipvs -R
	ip netns exec lb $ipt -t mangle -R PREROUTING 1 -i c0 -p tcp --dport 80 \
		-j MARK --set-mark $TRACE_MARK
}

# trace_run IMPL SCHED FAMILY TARGETS HOT_LIMIT OUT TMP: one run (see the top); HOT_LIMIT caps
# the number of HOT's targets replayed in the overload steps (and half of it the others').
trace_run() {
	local impl=$1 sched=$2 family=$3 targets=$4 limit=$5 out=$6 tmp=$7
	# TRACE_POLICY (unset in the tests) runs another scheduler in SCHED's place: the hand
	# check that the test fails for a different policy (e.g. TRACE_POLICY=rr).
	local policy=${TRACE_POLICY:-$sched}
	local case=v$family-$sched module=ip_vs_$policy start
	[ "$impl" = rust ] && module=${module}_rs
	mkdir -p "$out" "$tmp"
	cache_service "$family" "$policy"
	assert_eq "$impl $case: services bound to $module" 1 "$(cat "/sys/module/$module/refcnt")"
	start=$EPOCHREALTIME
	trace_cmd replay "$targets" "$out/$case-replay"
	trace_cmd pick "$out/$case-replay" $HOT "$tmp/$case-hot" "$limit" >/dev/null
	local others="" k
	for k in 1 2 3; do [ "rs$k" = "$HOT" ] || others="$others,rs$k"; done
	trace_cmd pick "$out/$case-replay" "${others#,}" "$tmp/$case-others" $((limit / 2)) >/dev/null
	trace_cmd hold "$tmp/$case-hot" "$out/$case-hold" $HOLD_COUNT
	trace_cmd replay "$tmp/$case-hot" "$out/$case-overload"
	trace_cmd replay "$tmp/$case-hot" "$out/$case-overload-again"
	trace_cmd replay "$tmp/$case-others" "$out/$case-others-overload"
	trace_cmd close
	trace_cmd replay "$tmp/$case-hot" "$out/$case-released"
	local ms=$(((${EPOCHREALTIME/./} - ${start/./}) / 1000))
	echo "ok: $impl $case: run took $((ms / 1000)).$((ms % 1000 / 100)) s"
	[ $ms -lt 110000 ] || echo "NOTE: $impl $case took more than 110 s: connections closed \
at its start may have left IPVS's table (120 s), and the least-connection choices then depend \
on the speed of the run"
	ipvs -Ln --stats
	ipvs -C
}

# trace_all IMPL OUT TMP SCHED: the runs of SCHED (lblc or lblcr), IPv4 and IPv6, with IMPL's module;
# TMP holds the targets (trace_targets).
trace_all() {
	local impl=$1 out=$2 tmp=$3 sched=$4
	use_scheduler "$impl" "${TRACE_POLICY:-$sched}"
	trace_run "$impl" $sched 4 "$tmp/targets4" $HOT_LIMIT4 "$out" "$tmp/${out##*/}"
	trace_run "$impl" $sched 6 "$tmp/targets6" $HOT_LIMIT6 "$out" "$tmp/${out##*/}"
	unload_schedulers "${TRACE_POLICY:-$sched}"
}

# trace_test SCHED: the whole test for lblc or lblcr (tests/lblc_trace.sh, lblcr_trace.sh):
# Rust, then C through the same steps, the checks of each run, and Rust == C.
trace_test() {
	local sched=$1 out family
	trace_require
	out=$(mktemp -d)
	cache_up
	trace_targets "$out/tmp" $TRACE_N4 $TRACE_N6
	trace_all rust "$out/rust" "$out/tmp" "$sched"
	trace_all c "$out/c" "$out/tmp" "$sched"
	cache_down
	for family in 4 6; do trace_check "$sched" $family "$out/rust"; done
	same_choices "$sched" "$out/rust" "$out/c"
}

# trace_check SCHED FAMILY OUT: what a run of SCHED must show by itself (not only the same as C):
#   replay: every connection answered; every target reaches one server on all its connections
#     (locality: nothing is overloaded); every server gets targets
#   hold: every held connection on $HOT (its targets' server, not overloaded until then)
#   overload: HOT's targets all answered by another server; overload-again: the same servers
#   others-overload: the other servers' targets stay where they were
#   released: lblc keeps the remap (the cache entry was replaced); lblcr's target has the set
#     {remap, HOT} and takes the less loaded of the two
# and whenever a target is (re)scheduled (new in the replay, remapped in the overload, lblcr's
# choice within the set once released), the server is the weighted least-connection one, with
# the load counted from the run's own connections: IPVS's overhead = 256 * active + inactive,
# where active = the held connections and inactive = every other connection of the run so far
# (see "Determinism" above); ties go to the first server in IPVS's list (rs1, rs2, rs3; an
# lblcr set lists its newest member first).
# Prints a summary of the replay (connections, distinct targets, per-server counts).
trace_check() {
	local sched=$1 family=$2 out=$3 case=v$2-$1
	local f=$out/$case
	awk -v sched="$sched" -v hot=$HOT -v hold=$HOLD_COUNT -v case="$case" -v w="${CACHE_WEIGHTS[*]}" '
		function bad(msg) { if (++failed <= 10) print "FAIL: " case ": " msg }
		function oh(d) { return 256 * act[d] + cnt[d] - act[d] }
		# IPVS weighted least-connection over the servers in list order
		function least(list,   n, i, l, d, s) {
			n = split(list, s, " ")
			l = s[1]
			for (i = 2; i <= n; i++) {
				d = s[i]
				if (oh(l) * weight[d] > oh(d) * weight[l]) l = d
			}
			return l
		}
		function expect(what, want) {
			if ($2 != want) bad(step ": " what " " $1 " went to " $2 ", not to the least loaded " want \
				" (256 * active + inactive: rs1/rs2/rs3 = " oh("rs1") "/" oh("rs2") "/" oh("rs3") \
				", weights " w ")")
		}
		BEGIN { split(w, wt, " "); for (k = 1; k <= 3; k++) weight["rs" k] = wt[k] }
		FNR == 1 { step = FILENAME; sub(/.*\/v[46]-[a-z]+-/, "", step)
			if (step == "released") for (d in act) act[d] = 0 }
		$2 == "error" { bad(step ": " $0); next }
		step == "replay" {
			n++; conns[$2]++
			if (!($1 in map)) { expect("new target", least("rs1 rs2 rs3")); map[$1] = $2; targets[$2]++; distinct++ }
			else if (map[$1] != $2) { if (!moved[$1]++) bad("target " $1 " went to " map[$1] " and then to " $2) }
		}
		step == "hold" { held++; act[$2]++; if ($2 != hot) bad("held connection to " $1 " went to " $2 ", not " hot) }
		step == "overload" { over++; remap[$1] = $2; remapped[$2]++
			if (map[$1] != hot) bad("target " $1 " was not on " hot)
			if ($2 == hot) bad("target " $1 " stayed on the overloaded " hot)
			else expect("target", least("rs1 rs2 rs3")) }
		step == "overload-again" { again++; if (remap[$1] != $2) bad("target " $1 " remapped to " remap[$1] " and then to " $2) }
		step == "others-overload" { others++; if (map[$1] != $2) bad("target " $1 " of " map[$1] " went to " $2 " while " hot " was overloaded") }
		step == "released" { rel++; back[$2]++
			if (sched == "lblc" && remap[$1] != $2) bad("target " $1 " remapped to " remap[$1] " went to " $2 " once " hot " was no longer overloaded")
			if (sched == "lblcr") expect("target", least(remap[$1] " " hot)) }
		{ cnt[$2]++ }
		END {
			for (k = 1; k <= 3; k++) if (!targets["rs" k]) bad("rs" k " got no target")
			if (held != hold) bad(held " held connections, not " hold)
			if (!over || over != again || over != rel) bad("overload steps: " over "/" again "/" rel " connections")
			if (!others) bad("no target of the other servers replayed during the overload")
			if (failed > 10) print "FAIL: " case ": and " failed - 10 " more"
			if (failed) exit 1
			printf "ok: %s replay: %d connections, %d distinct targets, weights %s; connections rs1/rs2/rs3 = %d/%d/%d, targets %d/%d/%d; every target on one server, every new one on the least loaded\n", \
				case, n, distinct, w, conns["rs1"], conns["rs2"], conns["rs3"], targets["rs1"], targets["rs2"], targets["rs3"]
			printf "ok: %s overload: %d held on %s; its first %d targets remapped to the least loaded, rs1/rs2 = %d/%d (twice the same), %d targets of the others stayed; released: rs1/rs2/rs3 = %d/%d/%d\n", \
				case, held, hot, over, remapped["rs1"], remapped["rs2"], others, back["rs1"], back["rs2"], back["rs3"]
		}' "$f-replay" "$f-hold" "$f-overload" "$f-overload-again" "$f-others-overload" "$f-released" ||
		fail "$case: the run does not behave like $sched (above)"
}
