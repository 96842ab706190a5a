#!/bin/bash
# Runs inside the VM (vm-bench/ipvs/run.sh boots it): the IPVS scheduler benchmarks, Rust
# modules against the kernel's C modules of the same name, in the same boot.
#   1. schedule() cost: ipvs_sched_bench.ko times the bound scheduler's schedule() on a real
#      service (no packets), 10 and 100 real servers
#   2. connections/s through an IPVS NAT service to three real servers (connrate)
#   3. lblc with 1,000,000 destination addresses: slab growth, time of the calls, time of the
#      timer's garbage-collection pass over the full table, time of the service stop that
#      flushes the table
# Each measurement runs C and Rust in turn, in alternating order over the rounds; the host
# takes medians. Lines of raw results go to OUT/raw.txt ("schedule ...", "connrate ...",
# "lblc1m ...").
# usage: guest.sh OUT   (environment: SLH_TOP, SLH_KBUILD, CONNRATE = the connrate binary,
# BENCH_KO = ipvs_sched_bench.ko; SLH_IPVS_* = shorter trial runs: ROUNDS, TIME_MS, CONN_SECS,
# CONN_ROUNDS, FILL, FILL_ROUNDS, SCHEDS ("wlc lblc"), PARTS ("schedule connrate"))
set -eu
out=$1
. "$SLH_TOP/qemu-tests/lib/common.sh"
raw="$out/raw.txt"
: >"$raw"
bench_ko=$BENCH_KO
param=/sys/module/ipvs_sched_bench/parameters
rounds=${SLH_IPVS_ROUNDS:-10}
time_ms=${SLH_IPVS_TIME_MS:-500}
conn_secs=${SLH_IPVS_CONN_SECS:-4}
conn_rounds=${SLH_IPVS_CONN_ROUNDS:-5}
fill_n=${SLH_IPVS_FILL:-1000000}
fill_rounds=${SLH_IPVS_FILL_ROUNDS:-2}
scheds=${SLH_IPVS_SCHEDS:-rr wrr lc wlc sed nq fo ovf twos lblc lblcr dh sh mh}
# Which of the three parts run (a trial run of one part): schedule fill connrate.
parts=${SLH_IPVS_PARTS:-schedule fill connrate}
has_part() { case " $parts " in *" $1 "*) return 0 ;; *) return 1 ;; esac }

log() { echo "[$(date +%T)] $*"; }

# impls ROUND: both implementations, C first in odd rounds, Rust first in even ones, so that a
# drift of the machine's speed during the run does not favour one.
impls() { if [ $(($1 % 2)) = 1 ]; then echo "c rust"; else echo "rust c"; fi; }

# bench CMD: one command to the benchmark module; prints its result line.
bench() {
	echo "$1" >"$param/cmd" || fail "ipvs_sched_bench: '$1' failed: $(cat "$param/result")"
	cat "$param/result"
}

# --- 1. schedule() cost ------------------------------------------------------------------
# The module's session lives in namespace sb (the namespace of the first setup; the module
# keeps it): the service never sees a packet, so no topology is needed.
session_start() {
	ip netns add sb
	# IPVS accepts a real server only if its address types as unicast, which needs the
	# namespace's local routing table: it exists once lo has its address.
	ip -n sb link set lo up
	insmod "$bench_ko"
	use_scheduler c wrr
	ip netns exec sb sh -c "echo 'setup wrr 1' >$param/cmd" ||
		fail "ipvs_sched_bench: 'setup wrr 1' failed: $(cat "$param/result")"
	bench stop >/dev/null
}

part_schedule() {
	local r impl sched n targets line what
	for r in $(seq 1 "$rounds"); do
		# The loop's own share of a call, and what spin_lock_bh() + spin_unlock_bh() of the
		# service's sched_lock add (the benchmark's own scheduler: no module to load).
		bench "setup slhbench 10" >/dev/null
		for what in base lock; do
			line=$(bench "$what $time_ms")
			echo "schedule_baseline round=$r $line" | tee -a "$raw"
		done
		bench stop >/dev/null
		for sched in $scheds; do
			for impl in $(impls "$r"); do
				use_scheduler "$impl" "$sched"
				# lblc, lblcr: 1,000 destination addresses, all cached after the warm-up;
				# dh, sh, mh: 1,000 keys (the same address as source and destination); the
				# others do not look at the addresses.
				case $sched in lblc* | dh | sh | mh) targets=1000 ;; *) targets=0 ;; esac
				for n in 10 100; do
					bench "setup $sched $n" >/dev/null
					line=$(bench "time $time_ms $targets")
					echo "schedule impl=$impl round=$r $line" | tee -a "$raw"
					bench stop >/dev/null
				done
			done
		done
	done
}

# --- 3. lblc with 1,000,000 destinations ---------------------------------------------------
# slab_bytes FILE: the bytes of every slab cache's objects in a /proc/slabinfo copy.
slab_total() { awk 'NR > 2 { s += $2 * $4 } END { printf "%d", s }' "$1"; }

# lblc's timer callback, as a kprobe target: C's ip_vs_lblc_check_expire(), or the Rust
# glue's periodic_cb::<Lblc> (a local symbol of ip_vs_lblc_rs, found by its mangled name).
gc_callback() {
	case $1 in
	c) echo ip_vs_lblc:ip_vs_lblc_check_expire ;;
	rust) awk '$4 == "[ip_vs_lblc_rs]" && $3 ~ /periodic_cb/ { print "ip_vs_lblc_rs:" $3; exit }' \
		/proc/kallsyms ;;
	esac
}

# gc_probe_on IMPL: events slhgc/enter and slhgc/exit (a kprobe and a kretprobe) on lblc's
# timer callback. They time the pass without changing either module, and fire only there.
tracing=/sys/kernel/tracing
gc_probe_on() {
	local fn
	[ -e "$tracing/kprobe_events" ] || mount -t tracefs nodev "$tracing"
	fn=$(gc_callback "$1")
	[ -n "$fn" ] || fail "no timer callback of the $1 lblc in /proc/kallsyms"
	printf 'p:slhgc/enter %s\nr:slhgc/exit %s\n' "$fn" "$fn" >"$tracing/kprobe_events" ||
		fail "kprobe events on $fn refused"
	echo 1 >"$tracing/events/slhgc/enable"
	echo 1 >"$tracing/tracing_on"
}

gc_probe_off() {
	echo 0 >"$tracing/events/slhgc/enable"
	echo >"$tracing/kprobe_events"
}

# gc_pass_ns: waits (at most 75 s: the timer runs every 60 s) for the next complete pass and
# prints its duration in ns (trace timestamps: microseconds). It blocks in read() on
# trace_pipe, which wakes it only for the two events: nothing polls while the pass runs.
gc_pass_ns() {
	local line start="" t
	echo >"$tracing/trace"
	exec 3<"$tracing/trace_pipe"
	while read -r -t 75 line <&3; do
		# "  <idle>-0  [001] ..s1.  1234.567890: enter: (...)": the microseconds as an integer.
		[[ $line =~ \ ([0-9]+)\.([0-9]{6}):\ (enter|exit):\  ]] || continue
		t=$((10#${BASH_REMATCH[1]} * 1000000 + 10#${BASH_REMATCH[2]}))
		if [ "${BASH_REMATCH[3]}" = enter ]; then
			start=$t
		elif [ -n "$start" ]; then
			exec 3<&-
			echo $(((t - start) * 1000))
			return
		fi
	done
	exec 3<&-
	fail "lblc's timer pass did not run within 75 s"
}

part_fill() {
	local r impl line s0 s1 stop0 stop1 grown gc
	for r in $(seq 1 "$fill_rounds"); do
		for impl in $(impls "$r"); do
			use_scheduler "$impl" lblc
			# The empty table's stop first: the difference to the full one is the flush.
			stop0=$(bench "setup lblc 10" >/dev/null && bench stop)
			gc_probe_on "$impl"
			# The service's timer starts here: its first pass comes 60 s later, after the fill.
			bench "setup lblc 10" >/dev/null
			# Copies taken by bash itself (mapfile): no process starts between the two.
			mapfile -t s0 </proc/slabinfo
			line=$(bench "fill $fill_n")
			mapfile -t s1 </proc/slabinfo
			# The pass over the full table: no entry is idle for 6 minutes, so it walks every
			# bucket and frees nothing, what lblc pays every minute with a full table.
			gc=$(gc_pass_ns)
			gc_probe_off
			stop1=$(bench stop)
			printf '%s\n' "${s0[@]}" >"$out/slab0.txt"
			printf '%s\n' "${s1[@]}" >"$out/slab1.txt"
			# The caches that grew by more than 1,000 objects: where the entries went.
			grown=$(awk 'NR == FNR { if (FNR > 2) n[$1] = $2; next }
				FNR > 2 && $2 - n[$1] > 1000 { printf "%s%s:%d*%d", sep, $1, $2 - n[$1], $4; sep = "," }' \
				"$out/slab0.txt" "$out/slab1.txt")
			echo "lblc1m impl=$impl round=$r slab_before=$(slab_total "$out/slab0.txt")" \
				"slab_after=$(slab_total "$out/slab1.txt") grown=${grown:-none}" \
				"empty_stop_ns=${stop0#stop ns=} full_stop_ns=${stop1#stop ns=} gc_pass_ns=$gc $line" | tee -a "$raw"
		done
	done
}

# --- 2. connections/s through IPVS NAT ------------------------------------------------------
# cl (client, sources 198.18.0.2-5) -- lb (director, VIP 198.18.0.1:80) -- rs1..rs3
# (connrate servers on 8080 answering "1", "2", "3"); weights 1, 2, 3.
SRCS=198.18.0.2,198.18.0.3,198.18.0.4,198.18.0.5
conn_topo_up() {
	local k
	{
		echo "netns add cl"
		echo "netns add lb"
		echo "link add veth0 netns cl type veth peer name c0 netns lb"
		for k in 1 2 3; do
			echo "netns add rs$k"
			echo "link add veth0 netns rs$k type veth peer name r$k netns lb"
		done
	} | ip -batch -
	ip -n cl -batch - <<-EOF
		link set lo up
		addr add 198.18.0.2/24 dev veth0
		addr add 198.18.0.3/24 dev veth0
		addr add 198.18.0.4/24 dev veth0
		addr add 198.18.0.5/24 dev veth0
		link set veth0 up
	EOF
	{
		echo "link set lo up"
		echo "addr add 198.18.0.1/24 dev c0"
		echo "link set c0 up"
		for k in 1 2 3; do
			echo "addr add 198.18.$k.1/24 dev r$k"
			echo "link set r$k up"
		done
	} | ip -n lb -batch -
	ip netns exec lb sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
	# The client's whole port range: ports are reused only after IPVS forgot them.
	ip netns exec cl sh -c 'echo "1024 65535" >/proc/sys/net/ipv4/ip_local_port_range'
	for k in 1 2 3; do
		ip -n "rs$k" -batch - <<-EOF
			link set lo up
			addr add 198.18.$k.2/24 dev veth0
			link set veth0 up
			route add default via 198.18.$k.1
		EOF
		ip netns exec "rs$k" "$CONNRATE" serve 8080 "$k" >"$TMPDIR/rs$k.log" 2>&1 &
		SERVER_PIDS+=($!)
	done
	for k in 1 2 3; do
		wait_for "rs$k listening" grep -q listening "$TMPDIR/rs$k.log"
	done
}

# conn_service SCHED: the NAT service on the VIP with SCHED, made in one ipvsadm run.
conn_service() {
	ipvs -R <<-EOF
		-A -t 198.18.0.1:80 -s $1
		-a -t 198.18.0.1:80 -r 198.18.1.2:8080 -m -w 1
		-a -t 198.18.0.1:80 -r 198.18.2.2:8080 -m -w 2
		-a -t 198.18.0.1:80 -r 198.18.3.2:8080 -m -w 3
	EOF
}

part_connrate() {
	local r impl sched line
	conn_topo_up
	use_scheduler c wrr
	conn_service wrr
	# Warm-up: ARP, route caches, page cache of the binary.
	ip netns exec cl "$CONNRATE" client 198.18.0.1 80 1 16 "$SRCS" >/dev/null
	for r in $(seq 1 "$conn_rounds"); do
		for sched in $scheds; do
			for impl in $(impls "$r"); do
				ipvs -D -t 198.18.0.1:80
				use_scheduler "$impl" "$sched"
				conn_service "$sched"
				line=$(ip netns exec cl "$CONNRATE" client 198.18.0.1 80 "$conn_secs" 16 "$SRCS")
				echo "connrate impl=$impl round=$r sched=$sched module=$(loaded_module "$sched") $line" |
					tee -a "$raw"
			done
		done
	done
	ipvs -D -t 198.18.0.1:80
	topo_down
}

# loaded_module NAME: which module registered scheduler NAME (ip_vs_NAME or ip_vs_NAME_rs).
loaded_module() {
	if [ -d "/sys/module/ip_vs_${1}_rs" ]; then echo "ip_vs_${1}_rs"; else echo "ip_vs_$1"; fi
}

started=$(date +%s)
echo "settings rounds=$rounds time_ms=$time_ms conn_secs=$conn_secs conn_rounds=$conn_rounds" \
	"conn_concurrency=16 fill=$fill_n fill_rounds=$fill_rounds" >>"$raw"
session_start
if has_part schedule; then
	log "1. schedule() cost, $rounds rounds of $time_ms ms per case"
	part_schedule
fi
if has_part fill; then
	log "3. lblc with $fill_n destinations, $fill_rounds rounds"
	part_fill
fi
bench teardown >/dev/null
rmmod ipvs_sched_bench
ip netns del sb
for s in $scheds; do unload_schedulers "$s"; done
if has_part connrate; then
	log "2. connections/s, $conn_rounds rounds of $conn_secs s per case"
	part_connrate
fi
for s in $scheds; do unload_schedulers "$s"; done
log "guest part done in $(($(date +%s) - started)) s"
echo "guest_seconds $(($(date +%s) - started))" >>"$raw"
