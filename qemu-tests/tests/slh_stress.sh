#!/bin/bash
# Stress (run with 4 vCPUs by the harness): short connections from SLH_CLIENTS (256) client
# addresses as fast as the VM goes, 20 rounds against `slh demo-server --respawn` with blocking
# accept and 20 with epoll, while at the same time: the client kills a random worker every 500
# connections (SIGSTOP, then SIGKILL: the server starts another, which registers), and a chaos
# loop sends random workers SIGUSR1 (deregister) and SIGUSR2 (register again), and turns the
# option off and on again with another queue count (8 or 4; 6 workers, so at times some find
# no free queue). The bounded wait is on (200 ms): connections of stopped workers expire,
# owners go on standby and come back, all while the rest goes on. Afterwards: no connection
# lost (each answered, or accepted by a worker that was then killed), the kernel's counters add
# up to what the clients saw (queued into the queues and the normal queue, less the moves and
# the expired, = accepted from them = connections), the
# listener's Recv-Q is 0, closing it leaves no kernel warning, and the module unloads.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

ROUNDS=20
WORKERS=6

# chaos STOPFILE: until STOPFILE exists, every 0.3-1 s one random change; ends with the
# option on with 8 queues and every worker told to register.
chaos() {
	local stop=$1 n=0 workers w queues
	while [ ! -e "$stop" ]; do
		n=$((n + 1))
		mapfile -t workers < <(pgrep -P "$SLH_SERVER_PID" || true)
		if [ ${#workers[@]} -gt 0 ]; then
			w=${workers[RANDOM % ${#workers[@]}]}
			case $((RANDOM % 7)) in
			0 | 1 | 2) kill -USR1 "$w" 2>/dev/null || true ;;
			3 | 4 | 5) kill -USR2 "$w" 2>/dev/null || true ;;
			6)
				queues=$((RANDOM % 2 ? 8 : 4))
				ip netns exec srv "$SLH" set --port "$SLH_PORT" --off >/dev/null
				ip netns exec srv "$SLH" set --port "$SLH_PORT" --queues "$queues" >/dev/null
				for w in "${workers[@]}"; do kill -USR2 "$w" 2>/dev/null || true; done
				echo "chaos: option off and on with $queues queues" ;;
			esac
		fi
		sleep "0.$((3 + RANDOM % 7))"
	done
	ip netns exec srv "$SLH" set --port "$SLH_PORT" --off >/dev/null
	ip netns exec srv "$SLH" set --port "$SLH_PORT" --queues 8 >/dev/null
	for w in $(pgrep -P "$SLH_SERVER_PID"); do kill -USR2 "$w" 2>/dev/null || true; done
	echo "chaos: $n changes"
}

# phase NAME DEMO-SERVER-ARGS...: one run under chaos, then the checks.
phase() {
	local name=$1 summary connections answered errors kills lost info queued normal_queued moved
	local accepted normal_accepted
	shift
	slh_server_start "$name" --workers "$WORKERS" --queues 8 --respawn --max-wait 200 "$@"
	rm -f "$TMPDIR/stop"
	chaos "$TMPDIR/stop" >"$TMPDIR/$name.chaos" 2>&1 &
	local chaos_pid=$!
	summary=$(slh_client_cmd run "$TMPDIR/clients4" "$SLH_SERVER4" "$SLH_PORT" "$ROUNDS" \
		"$TMPDIR/$name.conns" concurrency=32 kill="$SLH_SERVER_PID" every=500 seed=7 park=0.05)
	touch "$TMPDIR/stop"
	wait "$chaos_pid"
	tail -n 1 "$TMPDIR/$name.chaos"
	echo "$summary"
	read -r _ connections _ answered _ errors <<<"$(head -n 1 <<<"$summary")"
	read -r _ kills _ lost <<<"$(sed -n 2p <<<"$summary")"
	assert_eq "$name: connections" "$((SLH_CLIENTS * ROUNDS))" "$connections"
	if [ "$errors" -ne 0 ]; then
		grep -m 5 ' error ' "$TMPDIR/$name.conns" || true
		fail "$name: $errors connections lost (neither answered nor held by a killed worker)"
	fi
	[ "$lost" -le "$kills" ] || fail "$name: $lost connections died with $kills killed workers"
	# Every worker (re)registered by the end of the chaos: the counters of all 8 queues show.
	wait_for "$name: workers registered again" sh -c \
		"[ \$(ip netns exec srv '$SLH' info --port $SLH_PORT | awk 'NF >= 7 && \$1 ~ /^[0-9]+\$/ && \$2 != \"-\"' | wc -l) -ge 6 ]"
	info=$TMPDIR/$name.info
	slh_info >"$info"
	cat "$info"
	queued=$(slh_info_sum queued <"$info")
	moved=$(slh_info_sum moved <"$info")
	accepted=$(slh_info_sum accepted <"$info")
	normal_queued=$(slh_info_normal queued <"$info")
	normal_accepted=$(slh_info_normal accepted <"$info")
	assert_eq "$name: parked connections left" 0 "$(slh_info_sum depth <"$info")"
	# A connection that expired was counted in its queue and again in the normal queue.
	expired=$(slh_info_sum expired <"$info")
	assert_eq "$name: queued (queues + normal - moved - expired) = connections" "$connections" \
		"$((queued + normal_queued - moved - expired))"
	assert_eq "$name: accepted (queues + normal) = connections" "$connections" \
		"$((accepted + normal_accepted))"
	assert_eq "$name: listener's Recv-Q" 0 \
		"$(ip netns exec srv ss -Hltn "( sport = :$SLH_PORT )" | awk '{ print $2 }')"
	echo "ok: $name: $connections connections, $answered answered, $lost died with $kills killed workers, $moved moved; counters add up"
	slh_server_stop
}

slh_topo_up
slh_module_load
slh_client_start
phase blocking
phase epoll --epoll
slh_client_stop
slh_topo_down
slh_module_unload
echo "ok: module unloaded"
