# Guest-side helpers of the socket-level hash tests (slh_*.sh). Sourced after common.sh.
#
# Topology: a server namespace `srv` and a client namespace `cl` joined by one veth pair.
#   srv  198.18.0.1/16  2001:db8::1/64
#   cl   SLH_CLIENTS addresses of each family: 198.18.1.1 ... (200 per /24), 2001:db8::c:1 ...
# The client addresses are written to $TMPDIR/clients4, clients6 and clients-mapped (the v4
# addresses as a dual-stack listener sees them, ::ffff:198.18.x.y), for the client and for
# `slh predict`.
#
# The module is global: no two tests that load it ("# modules: sock_level_hash") run at the
# same time (lib/modules.sh).

SLH=$SLH_TOP/target/debug/slh
# shellcheck disable=SC2034 # for the tests that source this file
SLH_SHIM=$SLH_TOP/target/debug/libslh_preload.so
SLH_MODULE=$SLH_TOP/rust/sock_level_hash.ko
SLH_PORT=8080
SLH_SERVER4=198.18.0.1
SLH_SERVER6=2001:db8::1
SLH_CLIENTS=${SLH_CLIENTS:-256}
SLH_PY=/usr/bin/python3

[ -x "$SLH" ] || fail "$SLH is missing: build it on the host (cargo build -p slh-cli -p slh-preload)"
[ -f "$SLH_MODULE" ] || fail "$SLH_MODULE is missing: make modules"

# --- module ------------------------------------------------------------------------------

slh_module_load() {
	rmmod sock_level_hash 2>/dev/null || true
	insmod "$SLH_MODULE"
	"$SLH" check >/dev/null || fail "slh check: the kernel has no socket-level hash after insmod"
}

# slh_module_unload: rmmod, retried for up to 10 s: a closed listener's state (which holds a
# reference on the module) is freed after an RCU grace period. Fails if it never unloads.
slh_module_unload() {
	local i
	for i in $(seq 1 100); do
		rmmod sock_level_hash 2>/dev/null && return 0
		sleep 0.1
	done
	rmmod sock_level_hash || fail "sock_level_hash does not unload (refcnt $(cat /sys/module/sock_level_hash/refcnt 2>/dev/null))"
}

# --- topology ----------------------------------------------------------------------------

slh_client_addr4() { echo "198.18.$((1 + $1 / 200)).$((1 + $1 % 200))"; }
slh_client_addr6() { printf '2001:db8::c:%x\n' "$(($1 + 1))"; }

slh_topo_up() {
	local i
	ip -batch - <<-EOF
		netns add srv
		netns add cl
		link add veth0 netns cl type veth peer name veth0 netns srv
	EOF
	ip -n srv -batch - <<-EOF
		link set lo up
		addr add $SLH_SERVER4/16 dev veth0
		addr add $SLH_SERVER6/64 dev veth0 nodad
		link set veth0 up
	EOF
	: >"$TMPDIR/clients4"
	: >"$TMPDIR/clients6"
	: >"$TMPDIR/clients-mapped"
	for ((i = 0; i < SLH_CLIENTS; i++)); do
		slh_client_addr4 "$i" >>"$TMPDIR/clients4"
		slh_client_addr6 "$i" >>"$TMPDIR/clients6"
	done
	sed 's/^/::ffff:/' "$TMPDIR/clients4" >"$TMPDIR/clients-mapped"
	{
		echo "link set lo up"
		sed 's|.*|addr add &/16 dev veth0|' "$TMPDIR/clients4"
		sed 's|.*|addr add &/64 dev veth0 nodad|' "$TMPDIR/clients6"
		echo "link set veth0 up"
	} | ip -n cl -batch -
}

slh_topo_down() {
	slh_client_stop
	slh_server_stop
	slh_nginx_stop
	ip netns del cl 2>/dev/null || true
	ip netns del srv 2>/dev/null || true
}

# A test that stops half-way must not leave a server holding the module (the next slh test
# loads it afresh): on exit, every process of the two namespaces is killed, the namespaces go
# and the module is unloaded if nothing holds it any more.
slh_cleanup() {
	local rc=$? i
	ip netns pids srv 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	ip netns pids cl 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	slh_topo_down >/dev/null 2>&1 || true
	for i in $(seq 1 50); do
		[ -d /sys/module/sock_level_hash ] || break
		rmmod sock_level_hash 2>/dev/null && break
		sleep 0.1
	done
	return "$rc"
}
trap slh_cleanup EXIT

# --- server ------------------------------------------------------------------------------

SLH_SERVER_PID=
SLH_SERVER_LOG=

# slh_server_start NAME DEMO-SERVER-ARGS...: `slh demo-server --port SLH_PORT ARGS` in srv,
# stdout to $TMPDIR/NAME.out, stderr to NAME.err; waits until every worker of --workers has
# registered (or, with --off, is accepting). SLH_SERVER_PID is the server (parent) process.
# Without --max-wait (or --off) the server runs in the strict mode (--max-wait 0): these tests
# prove persistence, and under TCG a healthy worker may take longer than the default bound.
slh_server_start() {
	local name=$1 workers
	shift
	workers=$(printf '%s\n' "$@" | sed -n '/^--workers$/{n;p}')
	if ! printf '%s\n' "$@" | grep -qx -e --max-wait -e --off; then
		set -- "$@" --max-wait 0
	fi
	SLH_SERVER_LOG=$TMPDIR/$name
	# `ip netns exec` execs the program: $! is the server itself.
	ip netns exec srv "$SLH" demo-server --port "$SLH_PORT" "$@" \
		>"$SLH_SERVER_LOG.out" 2>"$SLH_SERVER_LOG.err" &
	SLH_SERVER_PID=$!
	wait_for "$name: $workers workers ready" slh_server_ready "$workers"
	if grep -q 'failed\|accepting from the normal queue only' "$SLH_SERVER_LOG.err"; then
		fail "$name: $(cat "$SLH_SERVER_LOG.err")"
	fi
}

slh_server_ready() {
	kill -0 "$SLH_SERVER_PID" 2>/dev/null || fail "the server exited: $(cat "$SLH_SERVER_LOG.err")"
	[ "$(grep -c ': registered to queue \|: accepting (not registered)' "$SLH_SERVER_LOG.err")" -ge "$1" ]
}

slh_server_stop() {
	if [ -n "$SLH_SERVER_PID" ]; then
		kill "$SLH_SERVER_PID" 2>/dev/null || true
		wait "$SLH_SERVER_PID" 2>/dev/null || true
		SLH_SERVER_PID=
	fi
}

# slh_parked_start: lib/slh_parked.py with 4 registered workers that never accept
# (SLH_PARKED_PID; its output in $TMPDIR/parked.out), and one connection of each client held,
# parked in their queues (checked; `slh info` in $TMPDIR/full.info). Starts the client.
SLH_PARKED_PID=
slh_parked_start() {
	ip netns exec srv "$SLH_PY" -I -S "$LIB/slh_parked.py" "$SLH_PORT" 4 >"$TMPDIR/parked.out" 2>&1 &
	# shellcheck disable=SC2034 # for the tests that source this file
	SLH_PARKED_PID=$!
	wait_for "slh_parked.py ready" grep -qx ready "$TMPDIR/parked.out"
	slh_client_start
	assert_eq "connections parked" "held $SLH_CLIENTS" \
		"$(slh_client_cmd hold "$TMPDIR/clients4" "$SLH_SERVER4" "$SLH_PORT" 1)"
	slh_info >"$TMPDIR/full.info"
	cat "$TMPDIR/full.info"
	assert_eq "connections waiting in the priority queues" "$SLH_CLIENTS" "$(slh_info_sum depth <"$TMPDIR/full.info")"
	assert_eq "queues owned" 4 "$(slh_owners <"$TMPDIR/full.info" | wc -l)"
}

# slh_children PID: the child processes of PID, one per line.
# (By parent pid in /proc/*/stat: the kernel has no CONFIG_PROC_CHILDREN.) Fails when there
# is none, so that a check over "every worker" cannot pass over an empty list.
slh_children() { pgrep -P "$1" | sort -n | grep .; }

# slh_workers: the demo server's current worker pids, one per line.
slh_workers() { slh_children "$SLH_SERVER_PID"; }

# slh_info [LISTEN-ADDRESS]: `slh info` of the listener on SLH_PORT (the report of
# LISTEN-ADDRESS:SLH_PORT when several sockets listen on the port, e.g. nginx's v4 and v6).
# shellcheck disable=SC2120 # the tests pass LISTEN-ADDRESS
slh_info() {
	ip netns exec srv "$SLH" info --port "$SLH_PORT" |
		awk -v want="${1:-}" '/ \(pid [0-9]* fd [0-9]*\)$/ { on = (want == "" || index($0, want ":" port " ") == 1) }
			on' port="$SLH_PORT"
}

# slh_owners < info: "QUEUE PID" per registered queue.
slh_owners() { awk 'NF >= 7 && $1 ~ /^[0-9]+$/ && $2 != "-" { print $1, $2 }'; }

# slh_info_sum COLUMN < info: the sum of a queue column (depth, queued, accepted, moved, wakeups,
# buckets, expired, overflowed, standby, demotions, promotions). Queue rows: a numeric first
# field and at least the 7 columns of the reports from before the bounds.
slh_info_sum() {
	awk -v col="$1" '
		/^queue / { for (i = 1; i <= NF; i++) if ($i == col) c = i - 1 }
		NF >= 7 && $1 ~ /^[0-9]+$/ { s += $c }
		END { print s + 0 }'
}

# slh_info_queue QUEUE COLUMN < info: one queue's value.
slh_info_queue() {
	awk -v q="$1" -v col="$2" '
		/^queue / { for (i = 1; i <= NF; i++) if ($i == col) c = i - 1 }
		NF >= 7 && $1 == q { print $c }'
}

# slh_info_normal queued|accepted < info
slh_info_normal() {
	sed -n "s/^normal queue: \([0-9]*\) queued, \([0-9]*\) accepted$/\1 \2/p" |
		awk -v w="$1" '{ print (w == "queued") ? $1 : $2 }'
}

# --- client ------------------------------------------------------------------------------
# One slh_client.py process in cl for the whole test (a bash coprocess).

slh_client_start() {
	coproc SLHC { ip netns exec cl "$SLH_PY" -I -S "$LIB/slh_client.py" 2>&1; }
}

# slh_client_cmd COMMAND...: prints the command's output; fails on a command error.
slh_client_cmd() {
	local line
	echo "$*" >&"${SLHC[1]}"
	while read -r -t 600 line <&"${SLHC[0]}"; do
		[ "$line" = "done" ] && return 0
		case $line in error\ *) fail "slh_client.py $1: $line" ;; esac
		echo "$line"
	done
	fail "slh_client.py did not answer $1"
}

slh_client_stop() {
	if [ -n "${SLHC_PID:-}" ]; then
		{ echo quit >&"${SLHC[1]}"; } 2>/dev/null || true
		wait "$SLHC_PID" 2>/dev/null || true
	fi
}

# slh_run NAME CLIENTS ADDR ROUNDS [OPTIONS...]: a `run` of the client; its "CLIENT PID" lines
# go to $TMPDIR/NAME.conns. Fails unless every connection was answered.
slh_run() {
	local name=$1 clients=$2 addr=$3 rounds=$4 summary total
	shift 4
	summary=$(slh_client_cmd run "$clients" "$addr" "$SLH_PORT" "$rounds" "$TMPDIR/$name.conns" "$@")
	echo "$name: $summary"
	total=$(($(wc -l <"$clients") * rounds))
	case $summary in
	"connections $total answered $total errors 0"*) ;;
	*) fail "$name: not every connection was answered: $summary; e.g. $(grep -m3 ' error ' "$TMPDIR/$name.conns" | paste -sd';')" ;;
	esac
}

# slh_load_start NAME ROUNDS: a second slh_client.py in cl, in the background (while the test
# signals the server): ROUNDS rounds of http requests from every client address; answers in
# $TMPDIR/NAME.conns.
SLH_LOAD_PID=
slh_load_start() {
	ip netns exec cl "$SLH_PY" -I -S "$LIB/slh_client.py" >"$TMPDIR/$1.out" 2>&1 <<-CMD &
		run $TMPDIR/clients4 $SLH_SERVER4 $SLH_PORT $2 $TMPDIR/$1.conns http=1
		quit
	CMD
	SLH_LOAD_PID=$!
}

# slh_load_check NAME ROUNDS WHAT: waits for slh_load_start's client; fails unless every
# connection was answered.
slh_load_check() {
	local total=$(($(wc -l <"$TMPDIR/clients4") * $2))
	wait "$SLH_LOAD_PID" || fail "the load client failed: $(cat "$TMPDIR/$1.out")"
	cat "$TMPDIR/$1.out"
	grep -q "^connections $total answered $total errors 0" "$TMPDIR/$1.out" ||
		fail "not every connection $3 was answered"
	echo "ok: all $total connections $3 answered"
}

# --- checks ------------------------------------------------------------------------------

# slh_nstat COUNTER: a TCP counter of the server's namespace (nstat's name, e.g.
# TcpExtListenOverflows), 0 when nstat has none yet.
slh_nstat() {
	ip netns exec srv nstat -az "$1" | awk -v c="$1" '$1 == c { n = $2 } END { print n + 0 }'
}

# slh_worker_sets < conns: "CLIENT PID[,PID...]" per client (its distinct workers, sorted).
slh_worker_sets() {
	awk '$2 ~ /^[0-9]+$/ && !(($1, $2) in seen) { seen[$1, $2] = 1; s[$1] = s[$1] ? s[$1] "," $2 : $2 }
		END { for (c in s) print c, s[c] }' |
		awk '{ n = split($2, p, ","); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (p[j] < p[i]) { t = p[i]; p[i] = p[j]; p[j] = t }
			out = p[1]; for (i = 2; i <= n; i++) out = out "," p[i]; print $1, out }'
}

# slh_split_clients < conns: how many clients reached more than one worker.
slh_split_clients() { slh_worker_sets | awk '$2 ~ /,/ { n++ } END { print n + 0 }'; }

# slh_histogram < conns: "N1/N2/N3/N4...": clients that reached 1, 2, 3, ... workers.
slh_histogram() {
	slh_worker_sets | awk '{ n = split($2, p, ","); h[n]++; if (n > max) max = n }
		END { for (i = 1; i <= (max > 4 ? max : 4); i++) out = out (i > 1 ? "/" : "") h[i] + 0; print out }'
}

# slh_assert_split WHAT CONNS: without the hash, at least half of the SLH_CLIENTS clients of
# CONNS reached more than one worker (by chance each stays on one with probability 4^-19 for 20
# connections over 4 workers; half is a wide margin for uneven wake-ups under emulation).
slh_assert_split() {
	local split
	split=$(slh_split_clients <"$2")
	[ "$split" -ge $((SLH_CLIENTS / 2)) ] ||
		fail "$1: only $split of $SLH_CLIENTS clients reached more than one worker"
	echo "ok: $1: $split of $SLH_CLIENTS clients reached more than one worker (clients that reached 1/2/3/4 workers: $(slh_histogram <"$2"))"
}

# slh_assert_one_worker_per_client WHAT CONNS WORKERS: every client of CONNS reached exactly one
# worker, and every pid of WORKERS (a space-separated list) served some client.
slh_assert_one_worker_per_client() {
	local what=$1 conns=$2 workers=$3 clients split w served
	[ -n "$workers" ] || fail "$what: no worker pids to check"
	clients=$(slh_worker_sets <"$conns" | wc -l)
	split=$(slh_split_clients <"$conns")
	[ "$split" -eq 0 ] || fail "$what: $split of $clients clients reached more than one worker, e.g. $(slh_worker_sets <"$conns" | grep -m3 , | paste -sd';')"
	for w in $workers; do
		served=$(awk -v w="$w" '$2 == w { c[$1] = 1 } END { print length(c) }' "$conns")
		[ "$served" -gt 0 ] || fail "$what: worker $w served no client"
	done
	echo "ok: $what: each of $clients clients reached exactly one worker ($(wc -l <"$conns") connections); clients per worker: $(slh_clients_per_worker <"$conns")"
}

# slh_clients_per_worker < conns: "PID:N PID:N ..." (distinct clients each worker served).
slh_clients_per_worker() {
	awk '$2 ~ /^[0-9]+$/ && !(($1, $2) in seen) { seen[$1, $2] = 1; n[$2]++ } END { for (w in n) print w ":" n[w] }' |
		sort -n | paste -sd' '
}

# slh_predict COLUMN CLIENTS PREDICT-ARGS...: "CLIENT QUEUE" after step COLUMN of `slh predict`.
slh_predict() {
	local column=$1 clients=$2
	shift 2
	"$SLH" predict "$@" --clients "$clients" | awk -v c="$column" '!/^#/ { print $1, $(c + 1) }'
}

# slh_assert_predicted WHAT CONNS PREDICTED OWNERS [MAPPED]: every client of CONNS was served
# by the owner (OWNERS: "QUEUE PID" lines, from `slh info`) of its PREDICTED ("CLIENT QUEUE")
# queue, and only by it. With MAPPED=mapped the predicted addresses carry the ::ffff: prefix
# that CONNS lacks.
slh_assert_predicted() {
	local what=$1 conns=$2 predicted=$3 owners=$4 mapped=${5:-} bad
	bad=$(awk -v strip="$mapped" '
		FILENAME == ARGV[1] { owner[$1] = $2; next }
		FILENAME == ARGV[2] { c = $1; if (strip == "mapped") sub(/^::ffff:/, "", c); want[c] = ($2 in owner) ? owner[$2] : "normal-queue(" $2 ")"; next }
		$2 ~ /^[0-9]+$/ { n++; if (!($1 in want)) { print "unpredicted client " $1; next }
			if ($2 != want[$1]) print $1 " served by " $2 ", predicted " want[$1] }
		END { if (n == 0) print "no connection" }' "$owners" "$predicted" "$conns" | sort -u)
	[ -z "$bad" ] || fail "$what: $(printf '%s\n' "$bad" | wc -l) clients not where the indirection table puts them, e.g. $(printf '%s\n' "$bad" | head -n 5 | paste -sd';')"
	echo "ok: $what: all $(wc -l <"$conns") connections of $(cut -d' ' -f1 "$conns" | sort -u | wc -l) clients went to the worker owning the predicted queue"
}

# slh_assert_workers_registered OWNERS: the queues the kernel lists as owned (OWNERS: "QUEUE PID"
# from `slh info`) are exactly the ones the workers said they registered to.
slh_assert_workers_registered() {
	local owners=$1 said
	said=$(sed -n 's/^worker \([0-9]*\): registered to queue \([0-9]*\)$/\2 \1/p' "$SLH_SERVER_LOG.err" | sort -n)
	assert_eq "owners of the queues (slh info = what each worker was told)" \
		"$(printf '%s\n' "$said" | paste -sd' ')" "$(sort -n "$owners" | paste -sd' ')"
}

# slh_assert_counters WHAT CONNS INFO: the kernel's counters agree with what the clients saw:
# each queue's `accepted` is the number of connections its owner answered, nothing waits,
# nothing went through the normal queue (every bucket has an owner).
slh_assert_counters() {
	local what=$1 conns=$2 info=$3 expected actual
	expected=$(awk '$2 ~ /^[0-9]+$/ { n[$2]++ } END { for (w in n) print w, n[w] }' "$conns" | sort -n | paste -sd' ')
	actual=$(awk 'NF >= 7 && $1 ~ /^[0-9]+$/ && $2 != "-" { print $2, $5 }' "$info" | sort -n | paste -sd' ')
	assert_eq "$what: accepted per owner (slh info = answers the clients got)" "$expected" "$actual"
	assert_eq "$what: connections waiting" 0 "$(slh_info_sum depth <"$info")"
	assert_eq "$what: connections through the normal queue" 0 "$(slh_info_normal queued <"$info")"
}

# --- nginx -------------------------------------------------------------------------------

SLH_NGINX_PID=

# slh_nginx_start NAME [ENV...]: Debian's nginx, unmodified, in srv: 4 workers, port SLH_PORT,
# access log "$pid $remote_addr" in $TMPDIR/NAME/access.log, every response "worker $pid".
# ENV (e.g. LD_PRELOAD=... SLH_QUEUES=64) goes into nginx's environment only (with
# SLH_MAX_WAIT=0, the strict mode, unless ENV sets it: see slh_server_start); SLH_NGINX_EXTRA,
# if set, into the server block. SLH_NGINX_DAEMON=on runs it as a daemon (nginx takes a binary
# upgrade only from a master whose parent is gone); SLH_NGINX_PID is the master either way.
slh_nginx_start() {
	local name=$1 dir=$TMPDIR/$1
	shift
	if ! printf '%s\n' "$@" | grep -q '^SLH_MAX_WAIT='; then
		set -- SLH_MAX_WAIT=0 "$@"
	fi
	command -v nginx >/dev/null || fail "nginx is not installed (scripts/bootstrap.sh installs Debian's nginx)"
	mkdir -p "$dir"
	# The guest's root is the host's, read-only: every path nginx writes is in $dir.
	cat >"$dir/nginx.conf" <<-CONF
		worker_processes 4;
		daemon ${SLH_NGINX_DAEMON:-off};
		# nginx hands a new binary (USR2) only the variables named here.
		env LD_PRELOAD; env SLH_QUEUES; env SLH_PORTS; env SLH_MAX_WAIT; env SLH_DEBUG;
		master_process on;
		user root;
		pid $dir/nginx.pid;
		error_log stderr notice;
		events { worker_connections 1024; }
		http {
			log_format slh '\$pid \$remote_addr';
			access_log $dir/access.log slh;
			client_body_temp_path $dir/body;
			proxy_temp_path $dir/proxy;
			fastcgi_temp_path $dir/fastcgi;
			uwsgi_temp_path $dir/uwsgi;
			scgi_temp_path $dir/scgi;
			server {
				listen $SLH_PORT;
				location / { return 200 "worker \$pid\n"; }
				${SLH_NGINX_EXTRA:-}
			}
		}
	CONF
	# `ip netns exec` and `env` exec: $! is nginx's master.
	# By its absolute path: a binary upgrade (USR2) execs argv[0].
	ip netns exec srv env "$@" "$(command -v nginx)" -p "$dir" -c "$dir/nginx.conf" -e stderr 2>"$dir/error.log" &
	SLH_NGINX_PID=$!
	if [ "${SLH_NGINX_DAEMON:-off}" = on ]; then
		wait "$SLH_NGINX_PID" || fail "nginx did not start: $(cat "$dir/error.log")"
		wait_for "$name: nginx's pid file" test -s "$dir/nginx.pid"
		SLH_NGINX_PID=$(cat "$dir/nginx.pid")
	fi
	wait_for "$name: nginx workers" slh_nginx_ready "$dir"
}

slh_nginx_ready() {
	if ! kill -0 "$SLH_NGINX_PID" 2>/dev/null || grep -q '^State:.*Z' "/proc/$SLH_NGINX_PID/status"; then
		fail "nginx exited: $(cat "$1/error.log")"
	fi
	[ "$(pgrep -P "$SLH_NGINX_PID" | wc -l)" -eq 4 ]
}

slh_nginx_stop() {
	if [ -n "$SLH_NGINX_PID" ]; then
		kill -QUIT "$SLH_NGINX_PID" 2>/dev/null || true
		wait "$SLH_NGINX_PID" 2>/dev/null || true
		# A daemon is not our child: wait for it by pid.
		wait_for "nginx exited" sh -c "! kill -0 $SLH_NGINX_PID 2>/dev/null"
		SLH_NGINX_PID=
	fi
}

slh_nginx_workers() { slh_children "$SLH_NGINX_PID"; }
