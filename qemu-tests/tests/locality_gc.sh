#!/bin/bash
# The lblc and lblcr garbage collection, timer and all, Rust and C side by side: a target's
# table entry outlives full expiration checks while it is younger than
# net.ipv4.vs.NAME_expiration, and the first full check after it has been idle longer removes
# it, so that the target's next connection is scheduled afresh, to another server.
# The collection runs from a per-service timer every 60 s, with a full check every 30th run;
# slh_test_timer (qemu-tests/kmod/) shortens that timer to 50 ms for both the C module and
# ours, and counts its runs, so the test waits for runs, not for time. Shown to fail with the
# Rust full check keeping every entry (lblc.rs's is_stale returning false): the Rust run then
# stays on the first server and the C run does not.
# modules: ip_vs_lblc_rs ip_vs_lblcr_rs slh_test_timer
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"

rearms=/sys/module/slh_test_timer/parameters/rearms
# A test that stops half-way must not leave the probe behind.
trap 'rmmod slh_test_timer 2>/dev/null || true' EXIT

# timer_callback IMPL NAME: the address of the function the IMPL (rust or c) NAME module arms
# its collection timer with.
timer_callback() {
	local pattern
	case $1 in
	rust) pattern="periodic_cb.*[[:space:]]\[ip_vs_$2_rs\]\$" ;;
	c) pattern="[[:space:]]ip_vs_$2_check_expire[[:space:]]+\[ip_vs_$2\]\$" ;;
	esac
	grep -E "$pattern" /proc/kallsyms | awk '{print "0x" $1}'
}

# wait_runs N: until the collection timer has run N more times.
runs_at_least() { [ "$(cat $rearms)" -ge "$1" ]; }
wait_runs() {
	wait_for "$1 runs of the collection timer" runs_at_least $(($(cat $rearms) + $1))
}

# gc_case IMPL NAME
gc_case() {
	local impl=$1 name=$2 module callback first after sysctl=/proc/sys/net/ipv4/vs/$2_expiration
	module=ip_vs_$name
	if [ "$impl" = rust ]; then module=${module}_rs; fi
	use_scheduler "$impl" "$name"
	callback=$(timer_callback "$impl" "$name")
	[ "$(echo "$callback" | wc -w)" = 1 ] || fail "$impl $name: timer callback in kallsyms: '$callback'"
	insmod "$SLH_TOP/qemu-tests/kmod/slh_test_timer.ko" function="$callback" period_ms=50

	topo_up 2
	{
		echo "-A -t $VIP4:80 -s $name"
		echo "-a -t $VIP4:80 -r $(rs_addr4 1):$RS_PORT -m -w 1"
		echo "-a -t $VIP4:80 -r $(rs_addr4 2):$RS_PORT -m -w 1"
	} | ipvs -R
	client_start "$VIP4" 80
	# One target (the VIP), one server. One connection stays open: that server is then the
	# more loaded one, which a fresh choice avoids, yet not overloaded (one active connection
	# is not more than its weight), so the entry holds. (The client is a coprocess: its pipes
	# are not open in a $(...) subshell, hence the files.)
	client_open 1 >"$TMPDIR/first.txt"
	client_short 2 >>"$TMPDIR/first.txt"
	first=$(sort -u "$TMPDIR/first.txt" | xargs)
	case $first in
	rs1 | rs2) ;;
	*) fail "$impl $name: one target went to '$first'" ;;
	esac

	# A full check (one run in 30) with the default expiration of a day keeps the entry.
	wait_runs 31
	client_short 1 >"$TMPDIR/kept.txt"
	assert_eq "$impl $name: after a full check, the target's server (entry kept)" "$first" \
		"$(cat "$TMPDIR/kept.txt")"

	# Expiration 1 s: once the entry has been idle that long, the next full check removes it.
	ip netns exec lb sh -c "echo 1 >$sysctl"
	sleep 1.5
	wait_runs 31
	client_short 1 >"$TMPDIR/after.txt"
	after=$(cat "$TMPDIR/after.txt")
	[ "$after" != "$first" ] || fail "$impl $name: the target still went to $first after its entry expired"
	echo "ok: $impl $name: after 1 s idle and a full check, the target is scheduled afresh: $first -> $after"

	client_stop
	ipvs -C
	topo_down
	rmmod slh_test_timer
	wait_for "$module: last reference dropped" module_unused "$module"
	rmmod "$module"
}

for name in lblc lblcr; do
	for impl in rust c; do
		gc_case "$impl" "$name"
	done
done
echo "ok: lblc and lblcr, Rust and C: entries kept before their expiration and collected after it"
