#!/bin/bash
# Serialised accept under the shim (lib/slh_accept_mutex.py): a pre-fork server of 4 workers
# that take turns, under a mutex, to poll two listeners and accept one connection, as servers
# with several Listen ports do. The mutex holder sleeps in poll() while connections parked for
# the other workers wait; with the bounded wait (the shim's default, 200 ms) they move to the
# normal queue and wake it. 64 client addresses connect to both ports at once, 3 rounds: every
# connection is answered within 10 s (the client's bound; the mutex serialises every accept).
# Shown to fail in the strict mode (SLH_MAX_WAIT=0): connections parked for a worker waiting
# on the mutex were never answered.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

slh_module_load
ip netns add mtx
ip -n mtx link set lo up
ip netns exec mtx env LD_PRELOAD="$SLH_SHIM" SLH_PORTS=8080,8081 SLH_DEBUG=1 \
	"$SLH_PY" -I -S "$LIB/slh_accept_mutex.py" server 8080 8081 4 >"$TMPDIR/server.out" 2>"$TMPDIR/server.err" &
server=$!
wait_for "the server is ready" grep -qx ready "$TMPDIR/server.out"
grep -c "enabled SO_SOCKLEVELHASH" "$TMPDIR/server.err" | grep -qx 2 || fail "the shim did not enable both listeners: $(cat "$TMPDIR/server.err")"
echo "ok: the shim enabled SO_SOCKLEVELHASH on both listeners"
if ! ip netns exec mtx "$SLH_PY" -I -S "$LIB/slh_accept_mutex.py" client 8080 8081 3 10; then
	cat "$TMPDIR/server.err"
	fail "not every connection was answered within 10 s"
fi
for port in 8080 8081; do ip netns exec mtx "$SLH" info --port "$port" | awk 'NF < 7 || $2 != "-"'; done
registered=$(grep -c "registered this process to queue" "$TMPDIR/server.err" || true)
[ "$registered" -ge 2 ] || fail "no worker registered (the test would prove nothing): $(cat "$TMPDIR/server.err")"
echo "ok: every connection answered; $registered registrations (worker, listener)"
kill -TERM "$server"
wait "$server" || true
ip netns del mtx
slh_module_unload
echo "ok: module unloaded"
