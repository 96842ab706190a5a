# Guest-side helpers shared by the qemu-tests. Sourced by each test (bash, set -eu).
# Environment from the runner: SLH_TOP (the clone), SLH_KBUILD (kernel build dir).

LIB="$SLH_TOP/qemu-tests/lib"

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

unload_schedulers() {
	local name=$1
	rmmod "ip_vs_${name}_rs" 2>/dev/null || true
	rmmod "ip_vs_${name}" 2>/dev/null || true
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

SERVER_PIDS=()

topo_up() {
	local n=$1 k
	ip netns add cl
	ip netns add lb
	ip -n lb link set lo up
	ip -n cl link set lo up
	ip link add veth0 netns cl type veth peer name c0 netns lb
	ip -n cl addr add 198.18.0.2/24 dev veth0
	ip -n cl addr add 2001:db8::2/64 dev veth0 nodad
	ip -n cl link set veth0 up
	ip -n lb addr add 198.18.0.1/24 dev c0
	ip -n lb addr add 2001:db8::1/64 dev c0 nodad
	ip -n lb link set c0 up
	ip netns exec lb sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	for k in $(seq 1 "$n"); do
		ip netns add "rs$k"
		ip -n "rs$k" link set lo up
		ip link add veth0 netns "rs$k" type veth peer name "r$k" netns lb
		ip -n "rs$k" addr add "$(rs_addr4 "$k")/24" dev veth0
		ip -n "rs$k" addr add "$(rs_addr6 "$k")/64" dev veth0 nodad
		ip -n "rs$k" link set veth0 up
		ip -n "rs$k" route add default via "198.18.$k.1"
		ip -n "rs$k" -6 route add default via "2001:db8:$k::1"
		ip -n lb addr add "198.18.$k.1/24" dev "r$k"
		ip -n lb addr add "2001:db8:$k::1/64" dev "r$k" nodad
		ip -n lb link set "r$k" up
		ip netns exec "rs$k" /usr/bin/python3 "$LIB/namesrv.py" "rs$k" "$RS_PORT" >"/tmp/rs$k.log" 2>&1 &
		SERVER_PIDS+=($!)
	done
	for k in $(seq 1 "$n"); do
		wait_for "rs$k listening" grep -q listening "/tmp/rs$k.log"
	done
}

topo_down() {
	local ns
	client_stop
	for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	SERVER_PIDS=()
	for ns in $(ip netns list | awk '{print $1}'); do ip netns del "$ns"; done
}

# wait_for WHAT COMMAND...: retry COMMAND for up to 30 s.
wait_for() {
	local what=$1 i
	shift
	for i in $(seq 1 300); do
		"$@" && return 0
		sleep 0.1
	done
	fail "timed out waiting for $what"
}

ipvs() { ip netns exec lb ipvsadm "$@"; }

# --- client ------------------------------------------------------------------------------
# One client process holding its connections open across steps (a bash coprocess).

client_start() {
	coproc CLIENT { ip netns exec cl /usr/bin/python3 "$LIB/client.py" "$1" "$2" 2>&1; }
}

# client_open N: open N more connections; prints the server name of each, one per line.
client_open() {
	local line
	echo "open $1" >&"${CLIENT[1]}"
	while read -r -t 120 line <&"${CLIENT[0]}"; do
		[ "$line" = done ] && return 0
		echo "$line"
	done
	fail "client did not answer"
}

client_stop() {
	if [ -n "${CLIENT_PID:-}" ]; then
		echo quit >&"${CLIENT[1]}" 2>/dev/null || true
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
