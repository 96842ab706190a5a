#!/bin/bash
# Turning the option off under load loses nothing. `slh demo-server`, 4 workers; the owner of
# queue 1 is stopped (SIGSTOP) and one connection from each of its clients parks in its queue.
# A run of 2,560 connections (10 per client, 64 at a time) then turns the option off on the
# server's listener (pidfd_getfd + setsockopt) after 100 of them, while the stopped worker's
# queue holds the parked ones and the run's own: every connection of the run and every
# parked one is answered, by the 3 running workers (the stopped one answers none); the
# listener reads "off" afterwards and, the stopped worker resumed, serves from the normal
# queue alone. `slh set` turns it on again on the running server.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

slh_module_load
slh_topo_up
slh_client_start

slh_server_start off --workers 4
slh_info | slh_owners >"$TMPDIR/owners"
slh_predict 4 "$TMPDIR/clients4" --queues 4 --events "reg any,reg any,reg any,reg any" >"$TMPDIR/predicted"
victim=$(awk '$1 == 1 { print $2 }' "$TMPDIR/owners")
awk '$2 == 1 { print $1 }' "$TMPDIR/predicted" >"$TMPDIR/victim.clients"
# One each: the parked connections and those of the run that park behind them must stay
# below the server's backlog (128), which counts parked connections too.
parked=$(wc -l <"$TMPDIR/victim.clients")
[ "$parked" -ge 40 ] || fail "only $parked connections would park in queue 1"
kill -STOP "$victim"
wait_for "worker $victim stopped" sh -c "grep -q '^State:.*T (stopped)' /proc/$victim/status"
assert_eq "connections parked" "held $parked" "$(slh_client_cmd hold "$TMPDIR/victim.clients" "$SLH_SERVER4" "$SLH_PORT" 1)"
slh_info >"$TMPDIR/before.info"
cat "$TMPDIR/before.info"
assert_eq "depth of the stopped worker's queue" "$parked" "$(slh_info_queue 1 depth <"$TMPDIR/before.info")"

slh_run load "$TMPDIR/clients4" "$SLH_SERVER4" 10 concurrency=64 disable="$SLH_SERVER_PID" after=100 \
	>"$TMPDIR/load.summary"
cat "$TMPDIR/load.summary"
grep -q '^disabled after 1[0-4][0-9] connections$' "$TMPDIR/load.summary" ||
	fail "the option was not turned off in the middle of the run: $(cat "$TMPDIR/load.summary")"
if awk -v v="$victim" '$2 == v { found = 1 } END { exit !found }' "$TMPDIR/load.conns"; then
	fail "the stopped worker $victim answered a connection of the run"
fi
slh_client_cmd collect "$TMPDIR/parked.answers" 30 >"$TMPDIR/collect.summary"
assert_eq "parked connections answered after the option went off" "answered $parked errors 0" "$(cat "$TMPDIR/collect.summary")"
if awk -v v="$victim" '$2 == v { found = 1 } END { exit !found }' "$TMPDIR/parked.answers"; then
	fail "the stopped worker $victim answered a parked connection"
fi
echo "ok: option turned off under load: all $((SLH_CLIENTS * 10)) connections of the run and all $parked parked ones answered by the running workers ($(awk '{ n[$2]++ } END { for (w in n) printf "%s:%d ", w, n[w] }' "$TMPDIR/parked.answers"))"

slh_info >"$TMPDIR/off.info"
cat "$TMPDIR/off.info"
grep -qx 'socket-level hash: off' "$TMPDIR/off.info" || fail "slh info does not say the option is off"
kill -CONT "$victim"
slh_run after "$TMPDIR/clients4" "$SLH_SERVER4" 4
split=$(slh_split_clients <"$TMPDIR/after.conns")
echo "ok: with the option off the workers share the normal queue: $split of $SLH_CLIENTS clients reached more than one worker ($(slh_clients_per_worker <"$TMPDIR/after.conns"))"

# On again, on the running server, with the operator's tool: the workers registered before,
# whose registrations ended with the off, now accept from the normal queue only.
ip netns exec srv "$SLH" set --port "$SLH_PORT" --queues 8 --hash crc16 >"$TMPDIR/set.out"
cat "$TMPDIR/set.out"
grep -q 'socket-level hash on: 8 queues, hash crc16, input client, max wait 200 ms$' "$TMPDIR/set.out" || fail "slh set did not report 8 queues, crc16, the default max wait"
slh_info >"$TMPDIR/on.info"
grep -qx 'socket-level hash: 8 queues, hash crc16, input client, 0 registered' "$TMPDIR/on.info" ||
	fail "after slh set: $(cat "$TMPDIR/on.info")"
# The counters are the listener's, kept across off and on: the run adds to them.
normal_before=$(slh_info_normal queued <"$TMPDIR/on.info")
slh_run on "$TMPDIR/clients4" "$SLH_SERVER4" 1
slh_info >"$TMPDIR/on2.info"
assert_eq "connections through the normal queue with nobody registered" "$SLH_CLIENTS" \
	"$(($(slh_info_normal queued <"$TMPDIR/on2.info") - normal_before))"
if ip netns exec srv "$SLH" set --port "$SLH_PORT" --queues 2000 2>"$TMPDIR/set.err"; then
	fail "slh set accepted 2000 queues"
fi
echo "ok: slh set --queues 2000 refused: $(cat "$TMPDIR/set.err")"
slh_server_stop

slh_topo_down
slh_module_unload
echo "ok: module unloaded"
