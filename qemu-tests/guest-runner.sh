#!/bin/bash
# Runs inside the VM: every qemu-test, TAP on stdout (in the order the tests finish).
# A test fails if it exits non-zero or if the kernel log written while it ran contains a
# kernel error report (BUG, WARNING, Oops, KASAN, lockdep, RCU stall), even when it passed.
# usage: guest-runner.sh RESULTS_DIR [TEST... | @FILE]   (RESULTS_DIR is shared with the host)
#
# Tests run in SLH_QEMU_LANES lanes side by side (default 2, the guest's CPUs): under TCG
# a test spends most of its time in exec and python start-up on one CPU, so two tests at once
# use both. Each test runs in a mount namespace of its own with a private /run/netns, and with
# a scratch directory of its own as TMPDIR: its network namespaces (cl, lb, rs1 ...) and files
# are its own. (Not a private /tmp: the clone itself may live under /tmp.) What tests still share is
# the kernel's scheduler modules: two tests that load the same scheduler (as their "# modules:"
# line says, see lib/modules.sh) never run at the same time.
#
# A test that runs longer than SLH_TEST_TIMEOUT seconds (default 900) is killed and fails.
# With SLH_RUN_UNTIL (seconds since the epoch) no test starts after that time: those left
# are listed as "# not run:", and the VM ends normally, so that run.sh stores the passes of
# the others (make test-debug, longer than a working session, goes on from them next time).
#
# With SLH_KMEMLEAK=1 (make test-debug, on a kernel with kmemleak) a kmemleak scan runs after
# each test and a suspected leak fails it. Leaks are seen only once their objects are a few
# seconds old, and two lanes run side by side: a report may land on the test after (or beside)
# the one that leaked; its backtrace names the allocation.
#
# Each test runs with qemu-tests/lib/bin first in its PATH, whose insmod records the modules
# the test loads: a test that loads a project module missing from its "# modules:" header
# fails (run.sh's result cache keys a test on its declared modules only; lib/modules.sh).
set -u
results=$1
shift
export SLH_TOP SLH_KBUILD
tests=("$@")
# @FILE: the tests are listed in FILE, one per line (run.sh passes them so).
if [ ${#tests[@]} -eq 1 ] && [ "${tests[0]#@}" != "${tests[0]}" ]; then
	mapfile -t tests <"${tests[0]#@}"
fi
[ ${#tests[@]} -gt 0 ] || tests=("$SLH_TOP"/qemu-tests/tests/*.sh)
. "$SLH_TOP/qemu-tests/lib/kernel-errors.sh"
. "$SLH_TOP/qemu-tests/lib/modules.sh"
lanes=${SLH_QEMU_LANES:-2}
export SLH_TEST_TIMEOUT=${SLH_TEST_TIMEOUT:-900}
kmemleak=
if [ "${SLH_KMEMLEAK:-0}" = 1 ]; then
	mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
	kmemleak=/sys/kernel/debug/kmemleak
	[ -w $kmemleak ] || { echo "Bail out! SLH_KMEMLEAK=1 but the kernel has no $kmemleak"; exit 1; }
	# What boot left unreferenced is not ours.
	echo scan >$kmemleak
	echo clear >$kmemleak
	# The scans must find a leak: one made on purpose by a test-only module. kmemleak reports
	# objects at least 5 s old, and a stale copy of the pointer (on a stack) may hide one for
	# a scan or two.
	insmod "$SLH_TOP/qemu-tests/kmod/slh_test_leak.ko"
	for _ in 1 2 3 4 5 6 7 8; do
		sleep 3
		echo scan >$kmemleak
		! grep -q 'slh_test_leak' $kmemleak || break
	done
	grep -q 'slh_test_leak' $kmemleak ||
		{ echo "Bail out! kmemleak did not report the leak of slh_test_leak.ko: $(head -c 600 $kmemleak)"; exit 1; }
	echo clear >$kmemleak
	rmmod slh_test_leak
fi

state=$(mktemp -d /tmp/slh-runner.XXXXXX)
printf '%s\n' "${tests[@]}" >"$state/pending"
: >"$state/running"


# conflicts "RES" RUNNING_FILE: whether RES shares a scheduler with a running test.
conflicts() {
	local res=$1 running=$2 line r
	[ -s "$running" ] || return 1
	[ "$res" = "*" ] && return 0
	while read -r _ line; do
		[ "$line" = "*" ] && return 0
		for r in $line; do
			case " $res " in *" $r "*) return 0 ;; esac
		done
	done <"$running"
	return 1
}

# claim: the next pending test that can run now (marked running), "" if none can yet, DONE
# when nothing is pending or SLH_RUN_UNTIL has passed. Under the state lock.
claim() {
	(
		flock 9
		[ -s "$state/pending" ] || { echo DONE; exit 0; }
		[ -z "${SLH_RUN_UNTIL:-}" ] || [ "$(date +%s)" -lt "$SLH_RUN_UNTIL" ] || { echo DONE; exit 0; }
		while read -r t; do
			res=$(test_schedulers "$t")
			conflicts "$res" "$state/running" && continue
			grep -vxF "$t" "$state/pending" >"$state/pending.new"
			mv "$state/pending.new" "$state/pending"
			echo "$t $res" >>"$state/running"
			echo "$t"
			exit 0
		done <"$state/pending"
	) 9>"$state/lock"
}

release() {
	(
		flock 9
		awk -v t="$1" '$1 != t' "$state/running" >"$state/running.new"
		mv "$state/running.new" "$state/running"
	) 9>"$state/lock"
}

# run_test TEST: runs it and prints its TAP block (one write, under the lock, so blocks of
# two lanes never interleave).
run_test() {
	local t=$1 name start rc errors leaks undeclared secs block scratch
	name=$(basename "$t" .sh)
	echo "slh-test-start $name" >/dev/kmsg
	start=$(date +%s)
	: >"$results/$name.modules"
	scratch=$(mktemp -d "/tmp/slh-$name.XXXXXX")
	PATH="$SLH_TOP/qemu-tests/lib/bin:$PATH" SLH_MODULES_LOG="$results/$name.modules" \
		TMPDIR=$scratch unshare --mount --propagation private bash -c '
		mkdir -p /run/netns && mount -t tmpfs slh-netns /run/netns || exit 99
		timeout "$SLH_TEST_TIMEOUT" bash "$1"
		rc=$?
		# A test that failed half-way leaves its namespaces and processes: end them.
		ip -all netns delete 2>/dev/null
		exit $rc' slh-test "$t" >"$results/$name.log" 2>&1
	rc=$?
	echo "slh-test-end $name" >/dev/kmsg
	# The guest's /tmp is held in its 2 GB of memory: a test that passed leaves no scratch
	# files (its log is on the host), and the console keeps what memory is left, for a VM
	# that dies.
	[ $rc -ne 0 ] || rm -rf "$scratch"
	echo "slh-test-memory after $name: $(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo) MB available" >/dev/kmsg
	dmesg | sed -n "/slh-test-start $name\$/,/slh-test-end $name\$/p" >"$results/$name.dmesg"
	errors=$(kernel_errors "$results/$name.dmesg")
	if [ -n "$kmemleak" ]; then
		leaks=$(
			flock 9
			echo scan >$kmemleak
			cat $kmemleak
			echo clear >$kmemleak
		) 9>"$state/kmemleak.lock"
		if [ -n "$leaks" ]; then
			printf '%s\n' "$leaks" >"$results/$name.kmemleak"
			errors+="${errors:+$'\n'}kmemleak: $(grep -c '^unreferenced object' "$results/$name.kmemleak") suspected leaks ($name.kmemleak): $(grep -m1 -A14 'backtrace' "$results/$name.kmemleak" | grep -v 'backtrace\|kmemleak_alloc\|slab_post\|__kmalloc\|kmalloc_trace' | head -n 3 | tr -s '\n ' ' ')"
		fi
	fi
	# A test without the header is never cached, so it has nothing to declare.
	undeclared=
	if test_modules "$t" >/dev/null; then
		undeclared=$(undeclared_modules "$t" "$results/$name.modules")
	fi
	secs=$(($(date +%s) - start))
	block="$state/$name.tap"
	if [ $rc -eq 0 ] && [ -z "$errors" ] && [ -z "$undeclared" ]; then
		echo "ok - $name (${secs}s)"
		grep '^ok: ' "$results/$name.log" | sed 's/^/# /'
	else
		echo "not ok - $name (exit $rc, ${secs}s)"
		[ -z "$errors" ] || printf '%s\n' "$errors" | sed 's/^/# kernel: /'
		[ -z "$undeclared" ] || printf '%s\n' "$undeclared" |
			sed 's/.*/# undeclared module: & (loaded by the test, missing from its "# modules:" header)/'
		# What failed first, then how the log ends: a test that goes on after a failed case
		# (slh_bounded) may have printed it more than 40 lines before its end.
		grep -m 5 '^FAIL' "$results/$name.log" | sed 's/^/# first failure: /'
		tail -n 40 "$results/$name.log" | sed 's/^/# /'
	fi >"$block"
	(
		flock 9
		n=$(($(cat "$state/done" 2>/dev/null || echo 0) + 1))
		echo "$n" >"$state/done"
		sed "1s/^\(not ok\|ok\) - /\1 $n - /" "$block"
	) 9>"$state/lock"
}

lane() {
	local t
	while :; do
		t=$(claim)
		case $t in
		DONE) return ;;
		"") sleep 1 ;;
		*)
			run_test "$t"
			release "$t"
			;;
		esac
	done
}

echo "TAP version 13"
echo "1..${#tests[@]}"
[ -z "$kmemleak" ] || echo "# kmemleak: the deliberate leak of slh_test_leak.ko was reported; scans after each test"
for ((l = 0; l < lanes; l++)); do lane & done
wait
while read -r t; do
	echo "# not run: $(basename "$t" .sh) (SLH_RUN_UNTIL passed)"
done <"$state/pending"
dmesg >"$results/dmesg.txt"
