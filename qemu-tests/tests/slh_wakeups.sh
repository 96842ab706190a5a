#!/bin/bash
# Blocking-accept and epoll pre-fork servers both keep each client on one worker, and a parked
# connection wakes only its owner: `slh demo-server` with 4 workers, 256 client addresses,
# 8 connections each, few at a time (concurrency 8) so that the workers mostly wait in
# accept(2) with an empty queue. Blocking: every client on its predicted worker, the kernel's
# per-queue `accepted` equals the answers each worker gave, and the owners' blocking accepts
# woke up at most 1.05 times per accepted connection (a wake-up of every worker per
# connection, the thundering herd, would give up to 4). Epoll (EPOLLEXCLUSIVE): the same
# placement and counters.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

slh_module_load
slh_topo_up
slh_client_start
slh_predict 4 "$TMPDIR/clients4" --queues 4 --events "reg any,reg any,reg any,reg any" >"$TMPDIR/predicted"

for mode in blocking epoll; do
	slh_server_start "$mode" --workers 4 "--$mode"
	slh_info | slh_owners >"$TMPDIR/$mode.owners"
	slh_assert_workers_registered "$TMPDIR/$mode.owners"
	slh_run "$mode" "$TMPDIR/clients4" "$SLH_SERVER4" 8 concurrency=8
	slh_assert_one_worker_per_client "$mode" "$TMPDIR/$mode.conns" "$(slh_workers | xargs)"
	slh_assert_predicted "$mode" "$TMPDIR/$mode.conns" "$TMPDIR/predicted" "$TMPDIR/$mode.owners"
	slh_info >"$TMPDIR/$mode.info"
	cat "$TMPDIR/$mode.info"
	slh_assert_counters "$mode" "$TMPDIR/$mode.conns" "$TMPDIR/$mode.info"
	if [ "$mode" = blocking ]; then
		accepted=$(slh_info_sum accepted <"$TMPDIR/$mode.info")
		wakeups=$(slh_info_sum wakeups <"$TMPDIR/$mode.info")
		ratio=$(awk -v w="$wakeups" -v a="$accepted" 'BEGIN { printf "%.3f", w / a }')
		# The bound says something only if the workers did wait: most accepts must have slept.
		[ "$((wakeups * 2))" -ge "$accepted" ] ||
			fail "blocking: only $wakeups wake-ups for $accepted accepts: the workers hardly waited, the bound proves nothing"
		[ "$((wakeups * 100))" -le "$((accepted * 105))" ] ||
			fail "blocking: $wakeups wake-ups for $accepted accepted connections ($ratio per connection > 1.05): owners are woken for connections that are not theirs"
		echo "ok: blocking: $wakeups wake-ups of the owners' accept for $accepted accepted connections: $ratio per connection (<= 1.05)"
	fi
	slh_server_stop
done

slh_topo_down
slh_module_unload
echo "ok: module unloaded"
