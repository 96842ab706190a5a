#!/bin/bash
# Every case of the errno table, and nothing left behind by a closed listener. Without the
# module every option answers ENOPROTOOPT (and `slh check` says so); with it, every row of
# the errno table (userspace/README.md) returns its errno and every success next to it works
# (slh_errno.py, raw setsockopt/getsockopt). Then a listener whose 4 priority queues hold 256
# connections (workers registered, never accepting: slh_parked.py) is closed: every client's
# connection is reset, no TCP socket of the port is left in the namespace, and the module
# unloads.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

# tcp_inuse: TCP sockets in use in the server namespace (/proc/net/sockstat is per netns).
tcp_inuse() { ip netns exec srv awk '$1 == "TCP:" { print $3 }' /proc/net/sockstat; }
# port_sockets: TCP sockets (any state) of SLH_PORT in the server namespace.
port_sockets() { ip netns exec srv ss -Htan "( sport = :$SLH_PORT )" | wc -l; }

rmmod sock_level_hash 2>/dev/null || true
slh_topo_up
ip netns exec srv "$SLH_PY" -I -S "$LIB/slh_errno.py" unloaded
if ip netns exec srv "$SLH" check >"$TMPDIR/check.out"; then
	fail "slh check succeeds without the module: $(cat "$TMPDIR/check.out")"
fi
echo "ok: slh check without the module: $(cat "$TMPDIR/check.out")"

slh_module_load
ip netns exec srv "$SLH_PY" -I -S "$LIB/slh_errno.py" loaded

# A listener closed with full priority queues.
inuse_before=$(tcp_inuse)
slh_parked_start
parked_pid=$SLH_PARKED_PID
refcnt=$(cat /sys/module/sock_level_hash/refcnt)
[ "$refcnt" -ge 1 ] || fail "the module has refcnt $refcnt while a listener uses it"
kill -USR1 "$parked_pid"
wait_for "listener closed" grep -qx closed "$TMPDIR/parked.out"
slh_client_cmd collect "$TMPDIR/closed.answers" 20 >"$TMPDIR/closed.summary"
assert_eq "answers after the listener closed (every connection reset)" \
	"answered 0 errors $SLH_CLIENTS" "$(cat "$TMPDIR/closed.summary")"
wait_for "no TCP socket of port $SLH_PORT left" sh -c "[ \$(ip netns exec srv ss -Htan '( sport = :$SLH_PORT )' | wc -l) -eq 0 ]"
wait_for "TCP sockets in use back to $inuse_before" sh -c "[ \$(ip netns exec srv awk '\$1 == \"TCP:\" { print \$3 }' /proc/net/sockstat) -eq $inuse_before ]"
echo "ok: closing a listener with $SLH_CLIENTS parked connections reset every one and left no socket (TCP in use: $(tcp_inuse), ports: $(port_sockets))"
kill -TERM "$parked_pid"
wait "$parked_pid"
grep -c 'exits$' "$TMPDIR/parked.out" | grep -qx 4 || fail "the 4 parked workers did not exit: $(cat "$TMPDIR/parked.out")"

slh_topo_down
slh_module_unload
echo "ok: module unloaded after the listener with full queues was closed"
