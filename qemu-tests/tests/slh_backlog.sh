#!/bin/bash
# The listener's backlog counter (sk_ack_backlog) stays exact when a worker accepts a parked
# connection while softirq is still adding it. The enqueue hook parks the connection (and
# wakes its owner) under rskq_lock, then softirq counts it with sk_acceptq_added(); an
# accept() that took the connection and uncounted it before that, without the lock, took the
# counter below zero: to UINT_MAX, a listener "full" that drops every handshake until the
# count comes back (and, with an update lost, for good). slh_test_delay (qemu-tests/kmod/)
# holds each parking softirq 200 ms as the hook returns, before the count, so the worker's
# accept always falls in that window, while two clients keep connecting. The counter, read
# every 5 ms from /proc/net/tcp, never goes below zero (no value above the clients' count);
# every connection is answered, with no handshake dropped for a full queue
# (TcpExtListenOverflows and ListenDrops stay 0); Recv-Q is back to 0; the module unloads.
# Shown to fail before the fix (the decrement outside rskq_lock, on a kernel built so): the
# counter read 4294967295 in each of 4 runs, and 12 handshakes were dropped in the one run
# that counted them.
# modules: sock_level_hash slh_test_delay
set -eu
SLH_CLIENTS=48
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

CLIENT_PROCS=2

slh_topo_up
slh_module_load
slh_server_start backlog --workers 2

# listen_drops: "OVERFLOWS DROPS" of the server's namespace.
listen_drops() { echo "$(slh_nstat TcpExtListenOverflows) $(slh_nstat TcpExtListenDrops)"; }
assert_eq "handshakes dropped before the test (overflows, drops)" "0 0" "$(listen_drops)"

# A test that stops half-way must not leave the probe behind (it would hold every later
# connection of every test 200 ms); the other test that loads it never runs beside this one.
trap 'rc=$?; rmmod slh_test_delay 2>/dev/null || true; (exit $rc); slh_cleanup' EXIT
rmmod slh_test_delay 2>/dev/null || true
insmod "$SLH_TOP/qemu-tests/kmod/slh_test_delay.ko" symbol=__sock_level_hash_enqueue \
	delay_us=200000 on_return=1
delayed=/sys/module/slh_test_delay/parameters/hits

# What the listener's counter reads meanwhile (/proc/net/tcp shows a listener's sk_ack_backlog
# as its rx_queue), every 5 ms until told to stop: the highest value and the samples taken.
ip netns exec srv "$SLH_PY" -I -S -c '
import os, sys, time
stop, out, port = sys.argv[1], sys.argv[2], ":%04X" % int(sys.argv[3])
peak = samples = 0
while not os.path.exists(stop):
    with open("/proc/net/tcp") as f:
        for line in f:
            fields = line.split()
            if fields[1].endswith(port) and fields[3] == "0A":
                peak = max(peak, int(fields[4].split(":")[1], 16))
    samples += 1
    time.sleep(0.005)
with open(out, "w") as f:
    print(peak, samples, file=f)
' "$TMPDIR/stop" "$TMPDIR/peak" "$SLH_PORT" &
sampler=$!

# Two clients, half of the addresses each, one connection at a time: when a worker accepts
# inside a window, no other connection is counted, and the other client's handshakes arrive
# from another CPU.
split -n "l/$CLIENT_PROCS" -d "$TMPDIR/clients4" "$TMPDIR/part."
pids=()
for part in "$TMPDIR"/part.*; do
	ip netns exec cl "$SLH_PY" -I -S "$LIB/slh_client.py" >"$part.out" 2>&1 <<-CMD &
		run $part $SLH_SERVER4 $SLH_PORT 1 $part.conns concurrency=1
		quit
	CMD
	pids+=($!)
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || fail "client $i failed: $(cat "$TMPDIR/part.0$i.out")"
done
held=$(cat $delayed)
rmmod slh_test_delay
touch "$TMPDIR/stop"
wait "$sampler" || fail "the backlog sampler failed"
read -r peak samples <"$TMPDIR/peak"
echo "backlog counter: highest of $samples samples: $peak; handshakes dropped (overflows, drops): $(listen_drops)"
[ "$peak" -le "$SLH_CLIENTS" ] || fail "the backlog counter read $peak (below zero as an unsigned int) with $SLH_CLIENTS clients"
echo "ok: the backlog counter never went below zero ($samples samples, highest $peak)"
[ "$held" -gt 0 ] || fail "no parking hook returned through the delay: the window was never held open"
echo "ok: the window between parking and counting was held open $held times"

answered=$(cat "$TMPDIR"/part.*.out | awk '$1 == "connections" { n += $2; a += $4; e += $6 } END { print n, a, e }')
echo "clients: connections, answered, errors: $answered"
assert_eq "connections answered (connections, answered, errors)" "$SLH_CLIENTS $SLH_CLIENTS 0" "$answered"
assert_eq "handshakes dropped for a full queue (overflows, drops)" "0 0" "$(listen_drops)"
assert_eq "listener Recv-Q at the end" 0 \
	"$(ip netns exec srv ss -Hltn "sport = :$SLH_PORT" | awk '{ print $2 }')"
slh_server_stop
slh_topo_down
slh_module_unload
echo "ok: module unloaded"
