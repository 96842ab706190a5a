#!/bin/bash
# A service switched between schedulers while connections arrive (4 clients at once), with the
# race window held open: slh_test_delay busy-waits 200 ms at the entry of every Rust
# schedule() (after IPVS has loaded the scheduler, before the scheduler reads svc->sched_data),
# so that ipvsadm -E, -D and a namespace teardown unbind the scheduler on another CPU while
# packets stand inside it. (With 10 ms no switch ever met a waiting packet under TCG.)
# IPVS calls done_service() without waiting for those packets (the grace period comes later):
# the scheduler's state must stay readable until then. Every Rust scheduler is switched to
# every other scheduler (and to the C ones without a Rust twin, if any), twice round: 728
# switches with the 14 schedulers. Then the service is deleted and re-created under traffic,
# and the director's namespace is deleted with the service live. Nothing may oops; every connection is answered or,
# while IPVS has no scheduler bound (between unbind and bind) or no service, refused (or reset,
# while the service is deleted: the VIP is the director's own address).
# Shown to fail before the fix: with done_service() storing NULL in sched_data, the switches
# oopsed within 40 s ("BUG: kernel NULL pointer dereference" in lblc's schedule_cb, softirq).
# modules: ip_vs_wlc_rs ip_vs_wrr_rs ip_vs_lblc_rs ip_vs_lblcr_rs ip_vs_rr_rs ip_vs_lc_rs ip_vs_sed_rs ip_vs_nq_rs ip_vs_fo_rs ip_vs_ovf_rs ip_vs_twos_rs ip_vs_dh_rs ip_vs_sh_rs ip_vs_mh_rs slh_test_delay
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"

load_every_scheduler
symbols=$(awk '$3 ~ /schedule_cb/ && $4 ~ /^\[ip_vs_[a-z]+_rs\]$/ { print $3 }' /proc/kallsyms |
	paste -sd,)
read -r -a rust_scheds <<<"$RUST_SCHEDS"
assert_eq "Rust schedule() entries found" ${#rust_scheds[@]} "$(tr ',' '\n' <<<"$symbols" | grep -c .)"
# A test that stops half-way must not leave the probe behind (every later Rust schedule()
# would stand still 200 ms).
trap 'rmmod slh_test_delay 2>/dev/null || true' EXIT
rmmod slh_test_delay 2>/dev/null || true
insmod "$SLH_TOP/qemu-tests/kmod/slh_test_delay.ko" symbol="$symbols" delay_us=200000
delayed=/sys/module/slh_test_delay/parameters/hits

# The director's ICMP errors unlimited (lb_refuse_at_once): with the limit, a client whose SYN
# and retransmissions all met unbound windows timed out, as if a scheduler had lost them.
icmp_rate_limited() {
	ip netns exec lb awk '/^Icmp:/ && !names { names = 1; for (i = 2; i <= NF; i++) col[$i] = i; next }
		/^Icmp:/ { g = col["OutRateLimitGlobal"]; h = col["OutRateLimitHost"]; print (g && h) ? $g + $h : -1 }' \
		/proc/net/snmp
}
topo_up 3
lb_refuse_at_once
service() {
	echo "-A -t $VIP4:80 -s $1"
	for k in 1 2 3; do echo "-a -t $VIP4:80 -r $(rs_addr4 $k):$RS_PORT -m -w $k"; done
}
service wlc | ipvs -R

# traffic_start / traffic_stop [settle]: 4 clients, each making short connections one after the
# other until stopped (50 ms apart after a refusal); with settle, the connection each client has
# in flight when the changes end is seen to its end first (answered, refused, or timed out:
# client.py gives up after 20 s). traffic_check WHAT [ALSO]: each was answered, or refused (while
# no scheduler was bound, or no service), or failed with ALSO (a regexp).
CLIENTS=4
traffic_mark=0
traffic_start() {
	local c
	traffic=()
	traffic_mark=$((traffic_mark + 1))
	echo "sched_switch_race: traffic $traffic_mark" >/dev/kmsg
	for c in $(seq 1 $CLIENTS); do
		printf 'pace 0.05\nshort 100000\n' |
			ip netns exec cl /usr/bin/python3 -I -S "$LIB/client.py" "$VIP4" 80 >$TMPDIR/traffic$c.txt &
		traffic+=($!)
	done
	wait_for "first connections answered" sh -c "grep -q '^rs' $TMPDIR/traffic$CLIENTS.txt"
}
traffic_stop() {
	local c lines=()
	if [ "${1:-}" = settle ]; then
		for c in $(seq 1 $CLIENTS); do lines+=("$(wc -l <"$TMPDIR/traffic$c.txt")"); done
		for c in $(seq 1 $CLIENTS); do
			wait_for "client $c's last connection of the phase ended" \
				sh -c "[ \$(wc -l <$TMPDIR/traffic$c.txt) -gt ${lines[c - 1]} ]"
		done
	fi
	kill "${traffic[@]}"
	wait "${traffic[@]}" 2>/dev/null || true
}
# no_dest_reports: how often a scheduler found no server since the last traffic_start.
no_dest_reports() {
	dmesg | sed -n "/sched_switch_race: traffic $traffic_mark\$/,\$p" | grep -c 'no destination available' || true
}
traffic_check() {
	local what=$1 also=${2:-'^$'} answered refused
	answered=$(cat $TMPDIR/traffic*.txt | grep -c '^rs' || true)
	refused=$(cat $TMPDIR/traffic*.txt | grep -c '^error .*Connection refused' || true)
	if cat $TMPDIR/traffic*.txt | grep -v -e '^rs' -e '^done' -e '^error .*Connection refused' -e "$also"; then
		fail "$what: connections neither answered nor refused (above)"
	fi
	[ "$(icmp_rate_limited)" = 0 ] || fail "$what: $(icmp_rate_limited) refusals rate-limited (dropped)"
	echo "ok: $what: $answered answered, $refused refused"
}

# Every ordered pair (Rust scheduler, any other scheduler), both ways, twice round.
for _ in 1 2; do
	for from in $RUST_SCHEDS; do
		for to in $RUST_SCHEDS $C_ONLY_SCHEDS; do
			[ "$to" != "$from" ] || continue
			echo "-E -t $VIP4:80 -s $from"
			echo "-E -t $VIP4:80 -s $to"
		done
	done
done >$TMPDIR/switches.txt
switches=$(wc -l <$TMPDIR/switches.txt)
hits_before=$(cat $delayed)
traffic_start
ipvs -R <$TMPDIR/switches.txt
traffic_stop settle
traffic_check "switching"
# Three servers are always there: no scheduler may fail to find one.
[ "$(no_dest_reports)" = 0 ] ||
	fail "a scheduler found no server while switching: $(dmesg | grep 'no destination available' | tail -3)"
hits=$(($(cat $delayed) - hits_before))
[ "$hits" -ge 20 ] || fail "only $hits calls of a Rust schedule() were delayed during the switches"
echo "ok: $switches switches, $hits calls of a Rust schedule() held open meanwhile"

# The service deleted and created again under traffic, bound to each Rust scheduler.
for _ in 1 2 3; do
	for name in $RUST_SCHEDS; do
		echo "-D -t $VIP4:80"
		service $name
	done
done >$TMPDIR/recreate.txt
traffic_start
ipvs -R <$TMPDIR/recreate.txt
traffic_stop settle
traffic_check "delete and re-create" '^error .*Connection reset by peer' 
ipvs -D -t $VIP4:80

# The director's namespace deleted while the service is bound and connections arrive (its
# services are unbound by the namespace's cleanup, in the kernel's netns work).
for name in $RUST_SCHEDS; do
	service $name | ipvs -R
	traffic_start
	ip netns del lb
	traffic_stop
	echo "ok: namespace with a live $name service deleted under traffic"
	topo_down
	topo_up 3
done
topo_down

rmmod slh_test_delay
unload_every_scheduler
