# Guest-side helpers shared by the qemu-tests. Sourced by each test (bash, set -eu).
# Environment from the runner: SLH_TOP (the clone), SLH_KBUILD (kernel build dir).

LIB="$SLH_TOP/qemu-tests/lib"
# The test's scratch directory (guest-runner.sh gives each test its own).
export TMPDIR=${TMPDIR:-/tmp}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
	if [ "$2" != "$3" ]; then
		fail "$1: expected '$2', got '$3'"
	fi
	echo "ok: $1 = $3"
}

# --- schedulers --------------------------------------------------------------------------

# Path of a scheduler module: rust_module NAME / c_module NAME.
rust_module() { echo "$SLH_TOP/rust/ipvs_sched/ip_vs_${1}_rs.ko"; }
c_module() { echo "$SLH_KBUILD/net/netfilter/ipvs/ip_vs_${1}.ko"; }

# use_scheduler rust|c NAME: make NAME resolve to the Rust or to the C implementation.
use_scheduler() {
	local impl=$1 name=$2
	rmmod "ip_vs_${name}_rs" 2>/dev/null || true
	rmmod "ip_vs_${name}" 2>/dev/null || true
	case $impl in
	rust) insmod "$(rust_module "$name")" ;;
	c) insmod "$(c_module "$name")" ;;
	*) fail "use_scheduler: unknown implementation $impl" ;;
	esac
}

# module_unused MODULE: nothing holds MODULE (for wait_for, which retries the command: the
# count must be read on each try).
module_unused() { [ "$(cat "/sys/module/$1/refcnt")" = 0 ]; }

unload_schedulers() {
	local name=$1
	rmmod "ip_vs_${name}_rs" 2>/dev/null || true
	rmmod "ip_vs_${name}" 2>/dev/null || true
}

# Every scheduler a service can be switched to: ours (all of Linux 6.12's), and the C ones that
# have no Rust twin (none left).
RUST_SCHEDS="wlc wrr lblc lblcr rr lc sed nq fo ovf twos dh sh mh"
C_ONLY_SCHEDS=""

# load_every_scheduler / unload_every_scheduler: all of them (the Rust ones under their names).
load_every_scheduler() {
	local name
	for name in $RUST_SCHEDS; do use_scheduler rust "$name"; done
	for name in $C_ONLY_SCHEDS; do use_scheduler c "$name"; done
}
unload_every_scheduler() {
	local name
	for name in $RUST_SCHEDS; do
		wait_for "$name: last reference dropped" module_unused "ip_vs_${name}_rs"
		rmmod "ip_vs_${name}_rs"
	done
	for name in $C_ONLY_SCHEDS; do rmmod "ip_vs_$name"; done
	echo "ok: every scheduler module unloaded"
}

# --- topology ----------------------------------------------------------------------------
# Namespaces: cl (client), lb (director), rs1..rsN (real servers), one veth pair each.
#   cl  198.18.0.2/24  2001:db8::2/64    <->  lb 198.18.0.1  2001:db8::1   (VIP = lb's address)
#   rsK 198.18.K.2/24  2001:db8:K::2/64  <->  lb 198.18.K.1  2001:db8:K::1 (default route via lb)
# 198.18.0.0/15 is the benchmarking range and 2001:db8::/32 the documentation range: nothing
# here is routed anywhere, and the VM has no network device to the outside.
VIP4=198.18.0.1
VIP6=2001:db8::1
RS_PORT=8080

rs_addr4() { echo "198.18.$1.2"; }
rs_addr6() { echo "2001:db8:$1::2"; }

# By address family (4 or 6): the VIP, the virtual service and real server K in ipvsadm form.
vip_addr() { if [ "$1" = 6 ]; then echo "$VIP6"; else echo "$VIP4"; fi; }
vip_of() { if [ "$1" = 6 ]; then echo "[$VIP6]:80"; else echo "$VIP4:80"; fi; }
rs_of() { if [ "$1" = 6 ]; then echo "[$(rs_addr6 "$2")]:$RS_PORT"; else echo "$(rs_addr4 "$2"):$RS_PORT"; fi; }

SERVER_PIDS=()

# Each namespace is configured by one `ip -batch` process: under TCG every exec costs
# about half a second, so one command per line would make set-up take tens of seconds.
topo_up() {
	local n=$1 k
	{
		echo "netns add cl"
		echo "netns add lb"
		echo "link add veth0 netns cl type veth peer name c0 netns lb"
		for k in $(seq 1 "$n"); do
			echo "netns add rs$k"
			echo "link add veth0 netns rs$k type veth peer name r$k netns lb"
		done
	} | ip -batch -
	ip -n cl -batch - <<-EOF
		link set lo up
		addr add 198.18.0.2/24 dev veth0
		addr add 2001:db8::2/64 dev veth0 nodad
		link set veth0 up
	EOF
	{
		echo "link set lo up"
		echo "addr add 198.18.0.1/24 dev c0"
		echo "addr add 2001:db8::1/64 dev c0 nodad"
		echo "link set c0 up"
		for k in $(seq 1 "$n"); do
			echo "addr add 198.18.$k.1/24 dev r$k"
			echo "addr add 2001:db8:$k::1/64 dev r$k nodad"
			echo "link set r$k up"
		done
	} | ip -n lb -batch -
	ip netns exec lb sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward; echo 1 >/proc/sys/net/ipv6/conf/all/forwarding'
	for k in $(seq 1 "$n"); do
		ip -n "rs$k" -batch - <<-EOF
			link set lo up
			addr add $(rs_addr4 "$k")/24 dev veth0
			addr add $(rs_addr6 "$k")/64 dev veth0 nodad
			link set veth0 up
			route add default via 198.18.$k.1
			route add ::/0 via 2001:db8:$k::1
		EOF
		ip netns exec "rs$k" /usr/bin/python3 -I -S "$LIB/namesrv.py" "rs$k" "$RS_PORT" >"$TMPDIR/rs$k.log" 2>&1 &
		SERVER_PIDS+=($!)
	done
	for k in $(seq 1 "$n"); do
		wait_for "rs$k listening" grep -q listening "$TMPDIR/rs$k.log"
	done
}

# lb_refuse_at_once: IPVS refuses a connection it cannot schedule with an ICMP port
# unreachable; the kernel sends at most one a second to a peer, and a client that gets none
# retries its SYN for 20 s. Without the limit in the director a refusal is seen at once, and
# a connection that times out was lost, not refused.
lb_refuse_at_once() {
	ip netns exec lb sh -c 'echo 0 >/proc/sys/net/ipv4/icmp_ratelimit
		echo 0 >/proc/sys/net/ipv6/icmp/ratelimit; echo 1000000 >/proc/sys/net/ipv4/icmp_msgs_per_sec'
}

topo_down() {
	local ns
	client_stop
	for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	SERVER_PIDS=()
	for ns in $(ip netns list | awk '{print $1}'); do ip netns del "$ns"; done
}

# time_bound SECONDS: a test's bound on how long the emulated machine takes for something,
# times SLH_TIME_SCALE (default 1; make test-debug sets 3, its sanitizers slowing the guest
# two- to threefold).
time_bound() { awk -v s="$1" -v k="${SLH_TIME_SCALE:-1}" 'BEGIN { print s * k }'; }

# wait_for WHAT COMMAND...: retry COMMAND for up to 30 s.
wait_for() {
	local what=$1
	shift
	for _ in $(seq 1 300); do
		"$@" && return 0
		sleep 0.1
	done
	fail "timed out waiting for $what"
}

ipvs() { ip netns exec lb ipvsadm "$@"; }

# --- client ------------------------------------------------------------------------------
# One client process holding its connections open across steps (a bash coprocess).

client_start() {
	coproc CLIENT { ip netns exec cl /usr/bin/python3 -I -S "$LIB/client.py" "$1" "$2" 2>&1; }
}

# client_open N: open N more connections; prints the server name of each, one per line.
# client_short N: the same with connections closed right after the name arrived.
client_open() { client_cmd open "$1"; }
client_short() { client_cmd short "$1"; }

# client_close: close every connection the client holds open.
# client_from SRC: later connections bind to source address SRC ("any": the kernel picks).
# client_to ADDR [PORT]: later connections go to ADDR (and PORT).
client_close() { client_cmd close ""; }
client_from() { client_cmd from "$1"; }
client_to() { client_cmd to "$1${2:+ $2}"; }

client_cmd() {
	local line
	echo "$1 $2" >&"${CLIENT[1]}"
	while read -r -t 120 line <&"${CLIENT[0]}"; do
		[ "$line" = "done" ] && return 0
		echo "$line"
	done
	fail "client did not answer"
}

client_stop() {
	if [ -n "${CLIENT_PID:-}" ]; then
		{ echo quit >&"${CLIENT[1]}"; } 2>/dev/null || true
		wait "$CLIENT_PID" 2>/dev/null || true
	fi
}

# count NAME < names: how many lines are exactly NAME.
count() { grep -cx "$1" || true; }

# counts "rs1 rs2 rs3" < names: "a/b/c", the number of connections each server got.
counts() {
	local names all out=""
	all=$(cat)
	for names in $1; do
		out="$out/$(printf '%s\n' "$all" | count "$names")"
	done
	echo "${out#/}"
}

# same_choices SCHED RUST_DIR C_DIR: every case file the Rust run wrote must list the same
# servers, connection by connection, as the C module's run of the same case (the oracle).
same_choices() {
	local sched=$1 rust=$2 c=$3 f
	for f in "$rust"/*; do
		f=$(basename "$f")
		if ! diff -u "$c/$f" "$rust/$f"; then
			fail "$f: the Rust $sched chose differently from the C $sched (diff above)"
		fi
		echo "ok: $f: Rust and C chose the same server for all $(wc -l <"$rust/$f") connections"
	done
}
