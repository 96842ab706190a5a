#!/bin/bash
# Runs inside the VM (vm-bench/hooks/run.sh boots it under -icount, one CPU): accept_loop in
# each case, ROUNDS rounds, the cases in a different order each round. Raw lines to OUT/raw.txt:
# "hooks CASE ROUND NS_PER_CONNECTION" (under -icount shift=0: instructions per connection).
# Cases:
#   plain-unloaded    a plain listener, the module not loaded (the anchor)
#   reuseport-bpf     SO_REUSEPORT + a classic BPF program, the module not loaded
#   plain-loaded      a plain listener, the module loaded, no socket with the option
#   plain-key-on      a plain listener while another process holds a listener with the option
#                     (the hooks' static key is on: each hook tests the listener's pointer)
#   slh               SO_SOCKLEVELHASH, one queue, the process registered: every connection
#                     parks in its queue and leaves it through accept()
# usage: guest.sh OUT   (environment: SLH_TOP, ACCEPT_LOOP = the binary; SLH_HOOKS_CONNS,
# SLH_HOOKS_ROUNDS for shorter trial runs)
set -eu -o pipefail
out=$1
raw=$out/raw.txt
: >"$raw"
module=$SLH_TOP/rust/sock_level_hash.ko
conns=${SLH_HOOKS_CONNS:-2000}
rounds=${SLH_HOOKS_ROUNDS:-3}
cases=(plain-unloaded reuseport-bpf plain-loaded plain-key-on slh)

log() { echo "[$(date +%T)] $*"; }

ip netns add hk
ip -n hk link set lo up
port=20000
# measure CASE ROUND: one batch (after accept_loop's own warm-up batch), on a fresh port.
measure() {
	local case=$1 round=$2 mode holder=
	port=$((port + 1))
	case $case in
	plain-unloaded | reuseport-bpf)
		if grep -q '^sock_level_hash ' /proc/modules; then
			rmmod sock_level_hash || { echo "sock_level_hash did not unload before $case"; exit 1; }
		fi
		;;
	*) grep -q '^sock_level_hash ' /proc/modules || insmod "$module" ;;
	esac
	case $case in
	reuseport-bpf) mode=reuseport ;;
	slh) mode=slh ;;
	*) mode=plain ;;
	esac
	if [ "$case" = plain-key-on ]; then
		coproc HOLD { exec ip netns exec hk "$ACCEPT_LOOP" hold 19999 0 0; }
		holder=$HOLD_PID
		ready=
		read -r ready <&"${HOLD[0]}" || true
		[ "$ready" = ready ] || { echo "the holding listener did not start"; exit 1; }
	fi
	ip netns exec hk "$ACCEPT_LOOP" "$mode" "$port" "$conns" 1 |
		awk -v c="$case" -v r="$round" '$1 == "ns_per_connection" { print "hooks", c, r, $3 }' >>"$raw"
	if [ -n "$holder" ]; then
		kill "$holder" 2>/dev/null || true
		wait "$holder" 2>/dev/null || true
	fi
	# The key's last decrement is deferred by a second: the next case starts with it off.
	sleep 2
}

for ((round = 1; round <= rounds; round++)); do
	order=("${cases[@]}")
	# Rotate the order each round, so that no case always follows the same one.
	for ((i = 1; i < round; i++)); do order=("${order[@]:1}" "${order[0]}"); done
	for case in "${order[@]}"; do
		log "round $round: $case"
		measure "$case" "$round"
	done
done
rmmod sock_level_hash 2>/dev/null || true
ip netns del hk
echo "guest_seconds $SECONDS" >>"$raw"
