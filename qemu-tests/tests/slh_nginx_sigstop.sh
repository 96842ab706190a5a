#!/bin/bash
# An nginx worker stopped for 5 s under load, with the shim and a bounded wait of 1 s (long
# enough that a healthy worker under TCG keeps up; both times SLH_TIME_SCALE, see time_bound):
# 256 client addresses connect throughout.
# Every connection is answered; the stopped worker goes on standby (its buckets move to the
# other three); after SIGCONT its event loop accepts again and it gets a share back; every
# client is sticky again afterwards.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

slh_module_load
slh_topo_up
slh_client_start
dir=$TMPDIR/sigstop
slh_nginx_start sigstop LD_PRELOAD="$SLH_SHIM" SLH_PORTS="$SLH_PORT" SLH_MAX_WAIT="$(time_bound 1000)"
wait_for "4 nginx workers registered" sh -c "ip netns exec srv '$SLH' info --port $SLH_PORT | grep -q ', 4 registered\$'"
workers=$(slh_nginx_workers | xargs)
stopped=$(echo "$workers" | awk '{ print $1 }')
queue=$(slh_info | slh_owners | awk -v p="$stopped" '$2 == p { print $1 }')

slh_load_start load 8
sleep 1
kill -STOP "$stopped"
sleep "$(time_bound 5)"
slh_info >"$dir/stopped.info"
kill -CONT "$stopped"
grep -E "^ *$queue " "$dir/stopped.info"
assert_eq "the stopped worker's queue on standby" 1 "$(slh_info_queue "$queue" standby <"$dir/stopped.info")"
assert_eq "its buckets while stopped" 0 "$(slh_info_queue "$queue" buckets <"$dir/stopped.info")"
slh_load_check load 8 "while a worker was stopped"
wait_for "after SIGCONT it takes a share back" sh -c \
	"ip netns exec srv '$SLH' info --port $SLH_PORT | awk -v q=$queue '\$1 == q && \$8 > 0 && \$11 == 0' | grep -q ."
slh_run after "$TMPDIR/clients4" "$SLH_SERVER4" 4 http=1
slh_assert_one_worker_per_client "nginx after SIGCONT" "$TMPDIR/after.conns" "$workers"
slh_nginx_stop
slh_topo_down
slh_module_unload
echo "ok: module unloaded"
