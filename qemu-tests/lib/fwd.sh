# The three IPVS forwarding methods, set up as the kernel's own selftest sets them up
# (tools/testing/selftests/net/netfilter/ipvs.sh: one real server there, N here):
#
#   cl --veth0--c0-- lb --rK--veth0-- rsK      (K = 1..N)
#    \____sK____________________veth1_/        (DR and TUN only: the replies' way back)
#
#   client LAN 198.18.0.0/24: cl 198.18.0.2 (and the client addresses below), lb 198.18.0.1,
#                             in DR and TUN rsK 198.18.0.(100+K) on its second link
#   lb <-> rsK 198.18.K.0/24: lb 198.18.K.1, rsK 198.18.K.2 (the real server address)
#   VIPs 198.19.44.110-113/32 on lb's lo; the client routes them via lb (198.18.0.1)
#
# NAT (-m): the real servers' default route is lb, which rewrites both directions; the selftest
#   deletes the server's link to the client side, here it is never made.
# DR (-g): lb forwards the frame unchanged to the real server's address on rK; each real
#   server has the VIPs on lo (arp_ignore=1, arp_announce=2, rp_filter=0) and replies from the
#   VIP straight to the client over its own link.
# TUN (-i): lb encapsulates in IPIP to the real server's address (ip_forward=0, no redirects);
#   the real server decapsulates on tunl0 (up, rp_filter=0) and replies straight to the client.
# The selftest joins the client, the director and the server on a bridge; this kernel has no
# CONFIG_BRIDGE, so each real server has a veth to the client instead (rp_filter=0 in cl, whose
# replies then arrive on another link than the route to the VIP).
#
# The service port is the real servers' port (8080): DR and TUN cannot change it.

FWD_PORT=8080
# fwd_vip I: the I-th VIP (1..4).
fwd_vip() { echo "198.19.44.$((109 + $1))"; }
# Client source addresses: four in the client LAN, four in a second /24 routed through cl.
FWD_CLIENTS_A="198.18.0.10 198.18.0.11 198.18.0.12 198.18.0.13"
FWD_CLIENTS_B="198.18.200.10 198.18.200.11 198.18.200.12 198.18.200.13"

# fwd_flag METHOD: the ipvsadm forwarding option of nat, dr or tun.
fwd_flag() {
	case $1 in
	nat) echo -m ;;
	dr) echo -g ;;
	tun) echo -i ;;
	*) fail "unknown forwarding method $1" ;;
	esac
}

# fwd_name METHOD: how `ipvsadm -Ln` names it.
fwd_name() {
	case $1 in
	nat) echo Masq ;;
	dr) echo Route ;;
	tun) echo Tunnel ;;
	esac
}

# fwd_topo_up METHOD N: namespaces cl, lb, rs1..rsN as above, a name server in each rsK.
# Every namespace is configured by one `ip -batch` (and at most one sh for its sysctls).
fwd_topo_up() {
	local method=$1 n=$2 k i vips=""
	fwd_flag "$method" >/dev/null
	for i in 1 2 3 4; do vips="$vips $(fwd_vip $i)"; done
	{
		echo "netns add cl"
		echo "netns add lb"
		echo "link add veth0 netns cl type veth peer name c0 netns lb"
		for k in $(seq 1 "$n"); do
			echo "netns add rs$k"
			echo "link add veth0 netns rs$k type veth peer name r$k netns lb"
			[ "$method" = nat ] || echo "link add veth1 netns rs$k type veth peer name s$k netns cl"
		done
	} | ip -batch -
	{
		echo "link set lo up"
		echo "addr add 198.18.0.2/24 dev veth0"
		for i in $FWD_CLIENTS_A $FWD_CLIENTS_B; do echo "addr add $i/24 dev veth0"; done
		echo "link set veth0 up"
		echo "route add 198.19.44.0/24 via 198.18.0.1"
		if [ "$method" != nat ]; then
			for k in $(seq 1 "$n"); do echo "link set s$k up"; done
		fi
	} | ip -n cl -batch -
	if [ "$method" != nat ]; then
		# The replies come from the VIP on sK while cl routes the VIP via veth0.
		ip netns exec cl sh -c 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 >$f; done'
	fi
	{
		echo "link set lo up"
		for i in $vips; do echo "addr add $i/32 dev lo"; done
		echo "addr add 198.18.0.1/24 dev c0"
		echo "link set c0 up"
		echo "route add 198.18.200.0/24 via 198.18.0.2"
		for k in $(seq 1 "$n"); do
			echo "addr add 198.18.$k.1/24 dev r$k"
			echo "link set r$k up"
		done
		[ "$method" != tun ] || echo "link set tunl0 up"
	} | ip -n lb -batch -
	case $method in
	nat | dr) ip netns exec lb sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward' ;;
	tun) ip netns exec lb sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward
		echo 0 >/proc/sys/net/ipv4/conf/all/send_redirects
		echo 0 >/proc/sys/net/ipv4/conf/default/send_redirects' ;;
	esac
	local sysctls=""
	if [ "$method" != nat ]; then
		sysctls='echo 1 >/proc/sys/net/ipv4/conf/all/arp_ignore
			echo 2 >/proc/sys/net/ipv4/conf/all/arp_announce
			for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 >$f; done;'
	fi
	for k in $(seq 1 "$n"); do
		{
			echo "link set lo up"
			echo "addr add $(rs_addr4 "$k")/24 dev veth0"
			echo "link set veth0 up"
			if [ "$method" = nat ]; then
				echo "route add default via 198.18.$k.1"
			else
				for i in $vips; do echo "addr add $i/32 dev lo"; done
				echo "addr add 198.18.0.$((100 + k))/24 dev veth1"
				echo "link set veth1 up"
				echo "route add 198.18.200.0/24 via 198.18.0.2 dev veth1"
				[ "$method" != tun ] || echo "link set tunl0 up"
			fi
		} | ip -n "rs$k" -batch -
		# shellcheck disable=SC2016 # expanded by the inner sh
		ip netns exec "rs$k" sh -c "$sysctls"'exec /usr/bin/python3 -I -S "$0" "$1" "$2"' \
			"$LIB/namesrv.py" "rs$k" "$FWD_PORT" >"$TMPDIR/rs$k.log" 2>&1 &
		SERVER_PIDS+=($!)
	done
	for k in $(seq 1 "$n"); do
		wait_for "rs$k listening" grep -q listening "$TMPDIR/rs$k.log"
	done
}

# fwd_service METHOD VIP SCHED "OPTIONS" WEIGHT...: ipvsadm -R lines for a TCP service
# VIP:8080 with OPTIONS (e.g. "-p 300") and real servers rs1.. in list order (IPVS puts a new
# server at the head of the list, so they are added in reverse).
fwd_service() {
	local method=$1 vip=$2 sched=$3 opts=$4 k
	shift 4
	local weights=("$@")
	echo "-A -t $vip:$FWD_PORT -s $sched $opts"
	for ((k = ${#weights[@]}; k >= 1; k--)); do
		echo "-a -t $vip:$FWD_PORT -r $(rs_addr4 $k):$FWD_PORT $(fwd_flag "$method") -w ${weights[$((k - 1))]}"
	done
}

# fwd_check_method METHOD: every real server of every service is forwarded to with METHOD.
fwd_check_method() {
	local want n=0 line fields
	want=$(fwd_name "$1")
	while read -r line; do
		case $line in
		"-> "[0-9]*)
			read -ra fields <<<"$line"
			[ "${fields[2]}" = "$want" ] || fail "real server ${fields[1]} forwarded by ${fields[2]}, not $want"
			n=$((n + 1))
			;;
		esac
	done < <(ipvs -Ln)
	[ $n -gt 0 ] || fail "no real server in ipvsadm -Ln"
	echo "ok: $1: ipvsadm shows all $n real servers forwarded by $want"
}

# fwd_stats VIP < `ipvsadm -Ln --stats --exact`: "CONNS INPKTS OUTPKTS" of the service
# VIP:8080 (what the director forwarded).
fwd_stats() {
	local line fields
	while read -r line; do
		read -ra fields <<<"$line"
		if [ "${fields[0]:-}" = TCP ] && [ "${fields[1]}" = "$1:$FWD_PORT" ]; then
			echo "${fields[2]} ${fields[3]} ${fields[4]}"
			return 0
		fi
	done
	fail "no service $1:$FWD_PORT in ipvsadm -Ln --stats"
}

# fwd_wait_idle VIP: wait until no real server of VIP:8080 has an active connection (the
# director has seen the client close them all), for up to 10 s.
fwd_wait_idle() {
	local i line fields active
	for ((i = 0; i < 20; i++)); do
		active=0
		while read -r line; do
			read -ra fields <<<"$line"
			case $line in "-> "[0-9]*) active=$((active + fields[4])) ;; esac
		done < <(ipvs -Ln -t "$1:$FWD_PORT")
		[ "$active" -ne 0 ] || return 0
		sleep 0.5
	done
	fail "$1: connections still active 10 s after the client closed them"
}

# rx_packets LINE: the received-packets counter in one line of `ip -s -o link`.
rx_packets() {
	local rest=${1#*RX:*\\} packets
	read -r _ packets _ <<<"$rest"
	echo "$packets"
}

# check_impl NAME rust|c REFS: NAME is the implementation we loaded, held by REFS services,
# and the other implementation is not loaded.
check_impl() {
	local name=$1 impl=$2 refs=$3 module other
	module=$([ "$impl" = rust ] && echo "ip_vs_${name}_rs" || echo "ip_vs_${name}")
	other=$([ "$impl" = rust ] && echo "ip_vs_${name}" || echo "ip_vs_${name}_rs")
	assert_eq "$impl $name: references on $module" "$refs" "$(cat "/sys/module/$module/refcnt")"
	[ ! -e "/sys/module/$other" ] || fail "$other is loaded beside $module"
}

# Checks without a process per call (each exec costs about a second under TCG):
# words FILE: the file's words on one line.
words() {
	local w
	w=$(<"$1")
	# shellcheck disable=SC2086 # split on purpose
	echo $w
}

# tally "rs1 rs2 rs3" WORD...: "a/b/c", how many of the WORDs are rs1, rs2, rs3.
tally() {
	local names=$1 name w n out=""
	shift
	for name in $names; do
		n=0
		for w in "$@"; do [ "$w" != "$name" ] || n=$((n + 1)); done
		out="$out/$n"
	done
	echo "${out#/}"
}
