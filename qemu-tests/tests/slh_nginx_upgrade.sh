#!/bin/bash
# nginx's binary upgrade under load with the shim (strict mode): USR2 to the old master starts
# a new master (exec of the binary, the listener inherited) with 4 new workers beside the 4
# old ones; WINCH ends the old workers gracefully; QUIT ends the old master. nginx runs as a
# daemon (it ignores USR2 while the master's parent lives) and keeps LD_PRELOAD and SLH_* for
# the new binary with `env` directives (lib/slh.sh). The new image
# adopts the listener that already has the option (the shim probes it once after exec), its
# workers register, and the old ones deregister when they close their listener. 256 client
# addresses connect through it all: every connection is answered, the owners are the 4 new
# workers, and every client is sticky again afterwards.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

slh_module_load
slh_topo_up
slh_client_start
dir=$TMPDIR/upgrade
SLH_NGINX_DAEMON=on slh_nginx_start upgrade LD_PRELOAD="$SLH_SHIM" SLH_PORTS="$SLH_PORT" SLH_MAX_WAIT=0
wait_for "4 nginx workers registered" sh -c "ip netns exec srv '$SLH' info --port $SLH_PORT | grep -q ', 4 registered\$'"
old_master=$SLH_NGINX_PID
old_workers=$(slh_nginx_workers | xargs)

slh_load_start load 8
sleep 1
kill -USR2 "$old_master"
wait_for "the new master wrote its pid" test -s "$dir/nginx.pid.oldbin"
wait_for "the new master's pid file" sh -c "[ -s '$dir/nginx.pid' ] && [ \"\$(cat '$dir/nginx.pid')\" != $old_master ]"
new_master=$(cat "$dir/nginx.pid")
wait_for "4 new workers" sh -c "[ \$(pgrep -P $new_master | wc -l) -eq 4 ]"
new_workers=$(slh_children "$new_master" | xargs)
echo "ok: new master $new_master with workers $new_workers beside the old ones ($old_workers)"
kill -WINCH "$old_master"
# (The new master is a child of the old one too: wait for the old workers by pid.)
wait_for "the old workers exited" sh -c "for p in $old_workers; do kill -0 \$p 2>/dev/null && exit 1; done; exit 0"
kill -QUIT "$old_master"
wait_for "the old master exited" sh -c "! kill -0 $old_master 2>/dev/null"
slh_load_check load 8 "through the upgrade"
wait_for "the owners are the 4 new workers" sh -c "ip netns exec srv '$SLH' info --port $SLH_PORT | grep -q ', 4 registered\$'"
slh_info >"$dir/after.info"
cat "$dir/after.info"
assert_eq "queue owners after the upgrade" "$(echo "$new_workers" | tr ' ' '\n' | sort -n | xargs)" \
	"$(slh_owners <"$dir/after.info" | awk '{ print $2 }' | sort -n | xargs)"
slh_run after "$TMPDIR/clients4" "$SLH_SERVER4" 4 http=1
slh_assert_one_worker_per_client "nginx after the upgrade" "$TMPDIR/after.conns" "$new_workers"
SLH_NGINX_PID=$new_master
slh_nginx_stop
if grep -E '\[(alert|emerg|crit)\]' "$dir/error.log"; then fail "nginx logged errors (above)"; fi
slh_topo_down
slh_module_unload
echo "ok: module unloaded"
