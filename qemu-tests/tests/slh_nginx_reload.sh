#!/bin/bash
# nginx's graceful reload under load with the shim (256 queues; the strict mode, so that only
# the shim's deregistration keeps the old worker's clients served), while an old worker holds
# a slow download open: 256 client addresses keep connecting through the reload; the
# download (1 MiB at 16 KiB/s, times SLH_TIME_SCALE) keeps its old worker alive for a minute
# after the reload. That worker closes its listener at once, and the shim deregisters it then:
# its buckets and parked connections go to the workers that accept. While it still
# serves the download: every connection was answered, the owners are the 4 new workers only,
# and the listener never overflowed (nstat ListenOverflows); then clients are sticky again.
# Shown to fail without the shim's close hook: the old worker stayed an owner while it lived.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

slh_module_load
slh_topo_up
slh_client_start
dir=$TMPDIR/reload
mkdir -p "$dir/files"
# 1 MiB at 16 KiB/s: a minute, times SLH_TIME_SCALE (the load through the reload takes longer
# than a minute on the sanitizer kernel); the download is ended once the checks are done.
head -c "$(printf '%.0f' "$(time_bound 1048576)")" /dev/zero >"$dir/files/big"
SLH_NGINX_EXTRA="location /big { root $dir/files; limit_rate 16k; }"
slh_nginx_start reload LD_PRELOAD="$SLH_SHIM" SLH_PORTS="$SLH_PORT" SLH_MAX_WAIT=0
wait_for "4 nginx workers registered" sh -c "ip netns exec srv '$SLH' info --port $SLH_PORT | grep -q ', 4 registered\$'"
old_workers=$(slh_nginx_workers | xargs)
slh_run before "$TMPDIR/clients4" "$SLH_SERVER4" 4 http=1
slh_assert_one_worker_per_client "nginx before the reload" "$TMPDIR/before.conns" "$old_workers"
ip netns exec srv nstat -n >/dev/null # zero the counters' history

# The download's worker is the owner of the first client's bucket.
ip netns exec cl curl -sS --interface "$(head -1 "$TMPDIR/clients4")" -o "$dir/big.out" \
	"http://$SLH_SERVER4:$SLH_PORT/big" &
download=$!
# download_holder: the old worker with an established connection (the download's).
download_holder() {
	local pid
	for pid in $old_workers; do
		if ip netns exec srv ss -Htnp state established "( sport = :$SLH_PORT )" | grep -q "pid=$pid,"; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}
wait_for "an old worker serves the download" download_holder
holder=$(download_holder)
echo "ok: old worker $holder serves the slow download"

# Load through the reload, from a second client process.
slh_load_start load 6
sleep 2
kill -HUP "$SLH_NGINX_PID"
wait_for "4 new workers beside the old one that holds the download" sh -c \
	"[ \$(pgrep -P $SLH_NGINX_PID | grep -vxF '$(echo "$old_workers" | tr ' ' '\n')' | wc -l) -eq 4 ]"
slh_load_check load 6 "through the reload"

new_workers=$(slh_nginx_workers | grep -vxF "$(echo "$old_workers" | tr ' ' '\n')" | xargs)
wait_for "the owners are the 4 new workers" sh -c "ip netns exec srv '$SLH' info --port $SLH_PORT | grep -q ', 4 registered\$'"
slh_info >"$dir/after.info"
cat "$dir/after.info"
assert_eq "queue owners after the reload" "$(echo "$new_workers" | tr ' ' '\n' | sort -n | xargs)" \
	"$(slh_owners <"$dir/after.info" | awk '{ print $2 }' | sort -n | xargs)"
kill -0 "$holder" 2>/dev/null || fail "the old worker $holder exited: the check above proves nothing"
echo "ok: old worker $holder still serves the download, no longer an owner"
assert_eq "ListenOverflows during the reload" 0 "$(slh_nstat TcpExtListenOverflows)"
kill "$download" 2>/dev/null || true
wait "$download" 2>/dev/null || true
wait_for "the old worker exits once its download is gone" sh -c "! kill -0 $holder 2>/dev/null"
slh_run after "$TMPDIR/clients4" "$SLH_SERVER4" 4 http=1
slh_assert_one_worker_per_client "nginx after the reload" "$TMPDIR/after.conns" "$new_workers"
slh_nginx_stop
if grep -E '\[(alert|emerg|crit)\]' "$dir/error.log"; then fail "nginx logged errors (above)"; fi
slh_topo_down
slh_module_unload
echo "ok: module unloaded"
