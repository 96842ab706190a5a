#!/bin/bash
# An unmodified server gets the socket-level hash from the LD_PRELOAD shim: Debian's nginx,
# worker_processes 4, access log "$pid $remote_addr", 256 client addresses, 20 connections
# each. Started with the shim (SLH_QUEUES=64, SLH_PORTS=8080), every client's requests are
# served by one nginx worker (the access log and the answers agree), the one owning the queue
# that the indirection table predicts; started without it, clients spread over the workers.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

# access_conns ACCESS_LOG: the log's "$pid $remote_addr" lines as "CLIENT PID".
access_conns() { awk '{ print $2, $1 }' "$1"; }

slh_module_load
slh_topo_up
slh_client_start

slh_nginx_start shim LD_PRELOAD="$SLH_SHIM" SLH_QUEUES=64 SLH_PORTS="$SLH_PORT"
# The workers register when they first wait on the listener (epoll_ctl), after they start.
wait_for "4 nginx workers registered" sh -c "ip netns exec srv '$SLH' info --port $SLH_PORT | grep -q ', 4 registered\$'"
slh_info >"$TMPDIR/shim.info"
cat "$TMPDIR/shim.info"
grep -q '^socket-level hash: 64 queues, hash toeplitz, input client, 4 registered$' "$TMPDIR/shim.info" ||
	fail "the shim did not enable 64 queues with 4 workers registered"
echo "ok: the shim enabled SO_SOCKLEVELHASH on nginx's listener (64 queues) and registered its 4 workers"
slh_owners <"$TMPDIR/shim.info" >"$TMPDIR/shim.owners"
assert_eq "queue owners are nginx's workers" "$(slh_nginx_workers | sort -n | paste -sd' ')" \
	"$(awk '{ print $2 }' "$TMPDIR/shim.owners" | sort -n | paste -sd' ')"
slh_run shim "$TMPDIR/clients4" "$SLH_SERVER4" 20 http=1
access_conns "$TMPDIR/shim/access.log" >"$TMPDIR/shim.access"
assert_eq "access log lines" "$(wc -l <"$TMPDIR/shim.conns")" "$(wc -l <"$TMPDIR/shim.access")"
[ "$(slh_worker_sets <"$TMPDIR/shim.conns" | sort)" = "$(slh_worker_sets <"$TMPDIR/shim.access" | sort)" ] ||
	fail "the access log and the answers name different workers for some clients"
echo "ok: each client's workers are the same in the access log and in the answers"
slh_assert_one_worker_per_client "nginx with the shim (access log)" "$TMPDIR/shim.access" "$(slh_nginx_workers | xargs)"
# Any free queue is the lowest: the 4 workers hold queues 0-3 of 64, whatever their order.
slh_predict 4 "$TMPDIR/clients4" --queues 64 --events "reg any,reg any,reg any,reg any" >"$TMPDIR/shim.predicted"
slh_assert_predicted "nginx with the shim (access log)" "$TMPDIR/shim.access" "$TMPDIR/shim.predicted" "$TMPDIR/shim.owners"
slh_nginx_stop
if grep -E '\[(alert|emerg|crit)\]' "$TMPDIR/shim/error.log"; then fail "nginx logged errors (above)"; fi

slh_nginx_start plain
slh_run plain "$TMPDIR/clients4" "$SLH_SERVER4" 20 http=1
access_conns "$TMPDIR/plain/access.log" >"$TMPDIR/plain.access"
assert_eq "access log lines without the shim" "$(wc -l <"$TMPDIR/plain.conns")" "$(wc -l <"$TMPDIR/plain.access")"
slh_assert_split "nginx without the shim" "$TMPDIR/plain.access"
slh_nginx_stop

slh_topo_down
slh_module_unload
echo "ok: module unloaded"
