#!/bin/bash
# Debian's php-fpm, unmodified, under the shim, driven over FastCGI (lib/fcgi_client.py) from
# 256 client addresses, 4 requests each:
# - pm = static, 4 children (strict mode): every request answered, the children are the
#   owners (they register at their first accept()), the master is not, and each client
#   reaches one child;
# - pm = ondemand (the master polls the listener to spawn children and never accepts; default
#   bounded wait): every request answered and the master owns no queue.
# modules: sock_level_hash   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/slh.sh"

FPM=$(command -v php-fpm8.2 php-fpm 2>/dev/null | head -1)
[ -n "$FPM" ] || fail "php-fpm is not installed (scripts/bootstrap.sh installs Debian's php-fpm)"
FCGI_PORT=9000

# fpm_start NAME PM [ENV...]: php-fpm in srv with `pm = PM`, 4 children at most.
fpm_start() {
	local name=$1 pm=$2 dir=$TMPDIR/$1
	shift 2
	mkdir -p "$dir"
	echo '<?php echo "worker " . getmypid() . "\n";' >"$dir/w.php"
	cat >"$dir/fpm.conf" <<-CONF
		[global]
		pid = $dir/fpm.pid
		error_log = $dir/error.log
		daemonize = no
		[www]
		user = root
		listen = $SLH_SERVER4:$FCGI_PORT
		listen.backlog = 1024
		pm = $pm
		pm.max_children = 4
		pm.start_servers = 4
		pm.min_spare_servers = 1
		pm.max_spare_servers = 4
		pm.process_idle_timeout = 60s
	CONF
	ip netns exec srv env "$@" "$FPM" -F -R -n -y "$dir/fpm.conf" -p "$dir" >"$dir/out" 2>&1 &
	FPM_PID=$!
	wait_for "$name: php-fpm listening" sh -c "ip netns exec srv ss -Hltn '( sport = :$FCGI_PORT )' | grep -q ."
}

fpm_stop() {
	kill -QUIT "$FPM_PID" 2>/dev/null || true
	wait "$FPM_PID" 2>/dev/null || true
}

fpm_owners() { ip netns exec srv "$SLH" info --port "$FCGI_PORT" | slh_owners | awk '{ print $2 }' | sort -n | xargs; }

slh_module_load
slh_topo_up

fpm_start static static LD_PRELOAD="$SLH_SHIM" SLH_PORTS="$FCGI_PORT" SLH_MAX_WAIT=0
wait_for "4 static children registered" sh -c "ip netns exec srv '$SLH' info --port $FCGI_PORT | grep -q ', 4 registered\$'"
children=$(slh_children "$FPM_PID" | xargs)
assert_eq "owners: the 4 children" "$children" "$(fpm_owners)"
ip netns exec cl "$SLH_PY" -I -S "$LIB/fcgi_client.py" "$TMPDIR/clients4" "$SLH_SERVER4" "$FCGI_PORT" \
	"$TMPDIR/static/w.php" 4 "$TMPDIR/static.conns" >"$TMPDIR/static.summary"
cat "$TMPDIR/static.summary"
total=$(($(wc -l <"$TMPDIR/clients4") * 4))
assert_eq "static: requests answered" "requests $total answered $total errors 0" "$(cat "$TMPDIR/static.summary")"
slh_assert_one_worker_per_client "php-fpm static" "$TMPDIR/static.conns" "$children"
fpm_stop

fpm_start ondemand ondemand LD_PRELOAD="$SLH_SHIM" SLH_PORTS="$FCGI_PORT"
master=$FPM_PID
ip netns exec cl "$SLH_PY" -I -S "$LIB/fcgi_client.py" "$TMPDIR/clients4" "$SLH_SERVER4" "$FCGI_PORT" \
	"$TMPDIR/ondemand/w.php" 4 "$TMPDIR/ondemand.conns" >"$TMPDIR/ondemand.summary"
cat "$TMPDIR/ondemand.summary"
assert_eq "ondemand: requests answered" "requests $total answered $total errors 0" "$(cat "$TMPDIR/ondemand.summary")"
ip netns exec srv "$SLH" info --port "$FCGI_PORT" | awk 'NF < 7 || $2 != "-"'
owners=$(fpm_owners)
[ -n "$owners" ] || fail "ondemand: no child registered"
case " $owners " in *" $master "*) fail "ondemand: the master $master owns a queue ($owners)" ;; esac
echo "ok: ondemand: the owners are children ($owners), not the master $master"
fpm_stop

slh_topo_down
slh_module_unload
echo "ok: module unloaded"
