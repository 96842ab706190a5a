#!/bin/bash
# Boots the kernel we built under QEMU (virtme-ng, TCG) and runs the qemu-tests inside it.
# Prints TAP; the last line is "qemu-tests: N passed, N failed". Exit status 0 only if all passed.
# usage: qemu-tests/run.sh [TEST...]   (test file names or paths; default: all)
#
# SLH_QEMU_VMS=N deals the tests out to N virtual machines side by side (default 1: measured
# on 2 cores, two TCG guests finish no sooner than one, which already uses both cores);
# SLH_QEMU_CPUS sets each guest's CPUs (default 4: more than the host's cores, for the
# interleavings of four CPUs rather than for speed; the stress tests want at least 4);
# SLH_QEMU_LANES how many tests a guest runs at once (default 2, see guest-runner.sh).
# SLH_GUEST_ENV="NAME=VALUE ..." is set in the guest for the runner and every test (make
# test-debug: SLH_KMEMLEAK=1, SLH_FUZZ_CALLS=1000000, SLH_TEST_TIMEOUT=3600); SLH_QEMU_TIMEOUT
# (seconds, default 3000) bounds each VM. SLH_RUN_UNTIL (seconds since the epoch): no test
# starts after that time; those left count as not run, and the others' passes are stored.
#
# Result cache (lib/result-cache.sh): a test whose key (a hash of everything that determines
# its result) has a stored pass is not run; its TAP line says "# cached: passed DATE (key K)"
# and it counts as passed. No VM boots when every test is cached. The cache is not read (but
# passes are still stored) with SLH_TEST_CACHE=0, when CI is set (CI runs everything), or for
# tests named on the command line.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/env.sh"
. "$top/qemu-tests/lib/kernel-errors.sh"
. "$top/qemu-tests/lib/modules.sh"
. "$top/qemu-tests/lib/result-cache.sh"

read_cache=1
if [ $# -gt 0 ] || [ "${SLH_TEST_CACHE:-1}" = 0 ] || [ -n "${CI:-}" ]; then read_cache=0; fi

tests=()
for t in "$@"; do
	case $t in
	/*) tests+=("$t") ;;
	*/*) tests+=("$top/$t") ;;
	*) tests+=("$top/qemu-tests/tests/${t%.sh}.sh") ;;
	esac
done
[ ${#tests[@]} -gt 0 ] || tests=("$top"/qemu-tests/tests/*.sh)

# Each test's key, before the VM boots; tests with a stored pass are not run.
common=$(cache_common "$top")
declare -A keys
cached=()
torun=()
for t in "${tests[@]}"; do
	keys[$t]=$(cache_key "$top" "$t" "$common")
	if [ "$read_cache" = 1 ] && stored=$(cache_lookup "$(basename "$t" .sh)" "${keys[$t]}"); then
		cached+=("$(basename "$t" .sh) # cached: ${stored%% in *} (key ${keys[$t]:0:8})")
	else
		torun+=("$t")
	fi
done
total=${#tests[@]}
tests=("${torun[@]}")
# The order the guest runner (guest-runner.sh) starts them in, from the durations of the last
# run (a new test counts as long): tests that share a scheduler module never overlap, so the
# tests of the busiest module form a chain that bounds the whole run; each test's priority is
# the total time of the tests it shares a module with (itself included), so that chain starts
# at once and never waits, then its own duration.
durations="$SLH_CACHE/qemu-test-seconds"
mapfile -t tests < <(for t in "${tests[@]}"; do
	secs=$(awk -v n="$(basename "$t" .sh)" '$1 == n { print $2 }' "$durations" 2>/dev/null)
	echo "${secs:-1000} $(test_schedulers "$t") $t"
done | awk '{
	secs[NR] = $1; path[NR] = $NF; n = NR
	for (i = 2; i < NF; i++) uses[NR, $i] = 1
	mods[NR] = ""; for (i = 2; i < NF; i++) mods[NR] = mods[NR] " " $i
} END {
	for (a = 1; a <= n; a++) {
		chain = 0
		for (b = 1; b <= n; b++) {
			shared = (a == b || mods[a] == " *" || mods[b] == " *")
			split(mods[a], m, " ")
			for (k in m) if (uses[b, m[k]]) shared = 1
			if (shared) chain += secs[b]
		}
		print chain, secs[a], path[a]
	}
}' | sort -k1,1nr -k2,2nr | cut -d' ' -f3-)
vms=${SLH_QEMU_VMS:-1}
[ "$vms" -le ${#tests[@]} ] || vms=${#tests[@]}
[ "$vms" -le 1 ] || export SLH_VNG_NOLOCK=1

results=$(mktemp -d /tmp/slh-qemu.XXXXXX)
if [ "$vms" -gt 0 ]; then
	echo "qemu-tests: booting $vms VM(s) of $(cat "$SLH_KBUILD/include/config/kernel.release") under TCG for ${#tests[@]} of $total tests (${#cached[@]} cached); logs in $results"
else
	echo "qemu-tests: all $total tests passed before with the same inputs (result cache, $SLH_RESULTS_CACHE): no VM booted"
fi
# boot_vm DIR TEST...: one VM running TESTs; its TAP goes to DIR/console.txt, its kernel
# console (vng -v) to DIR/kernel-console.txt, the tests' logs to DIR.
boot_vm() {
	local dir=$1
	shift
	mkdir -p "$dir"
	# The list goes through a file: the kernel command line (2,048 bytes, which carries
	# vng's --exec) has no room for twenty paths, and a cut-off line loses the root mount.
	printf '%s\n' "$@" >"$dir/tests.txt"
	# KVM guests hang on these machines: always TCG. The guest sees the host's root
	# read-only, so it runs the clone's scripts and modules and the host's ipvsadm, python3
	# and iproute2; it writes its logs to $dir.
	timeout "${SLH_QEMU_TIMEOUT:-3000}" bash "$top/scripts/vng.sh" -v \
		--cpus "${SLH_QEMU_CPUS:-4}" --memory 2G --rwdir "$dir" \
		--exec "${SLH_GUEST_ENV:-} SLH_TOP=$top SLH_KBUILD=$SLH_KBUILD SLH_QEMU_LANES=${SLH_QEMU_LANES:-2} SLH_RUN_UNTIL=${SLH_RUN_UNTIL:-} bash $top/qemu-tests/guest-runner.sh $dir @$dir/tests.txt" \
		</dev/null >"$dir/console.txt" 2>"$dir/kernel-console.txt"
}

shards=()
pids=()
for ((v = 0; v < vms; v++)); do
	shard=()
	for ((i = v; i < ${#tests[@]}; i += vms)); do shard+=("${tests[$i]}"); done
	shards+=("${shard[*]}")
	boot_vm "$results/vm$v" "${shard[@]}" &
	pids+=($!)
	# vng links the kernel's modules into the build tree as it starts: do not race it.
	[ "$v" -eq $((vms - 1)) ] || sleep 5
done
vng_rcs=()
for ((v = 0; v < vms; v++)); do
	wait "${pids[$v]}"
	vng_rcs+=($?)
done
# A VM that never started its runner (no TAP plan: a boot failure, not a test failure) is
# booted once more, alone; its first console is kept for diagnosis.
for ((v = 0; v < vms; v++)); do
	dir="$results/vm$v"
	if ! grep -q '^1\.\.' "$dir/console.txt"; then
		echo "# VM $v did not start its tests (vng exit ${vng_rcs[$v]}); booting it again alone"
		mv "$dir" "$dir.failed-boot"
		# shellcheck disable=SC2086 # the shard is a list of paths without spaces
		boot_vm "$dir" ${shards[$v]}
		vng_rcs[$v]=$?
	fi
done

echo "TAP version 13"
echo "1..$total"
n=0
passed=0
failed=0
failures=()
current=
not_run=0
for c in "${cached[@]}"; do
	n=$((n + 1))
	passed=$((passed + 1))
	echo "ok $n - $c"
done
for ((v = 0; v < vms; v++)); do
	vng_rc=${vng_rcs[$v]}
	dir="$results/vm$v"
	planned=$(sed -n 's/^1\.\.//p' "$dir/console.txt" | head -1)
	not_run_vm=$(grep -c '^# not run: ' "$dir/console.txt")
	ran=0
	while IFS= read -r line; do
		case $line in
		"ok "* | "not ok "*)
			n=$((n + 1))
			ran=$((ran + 1))
			status=${line%% [0-9]*}
			rest=${line#* [0-9]* }
			echo "$status $n $rest"
			if [ "$status" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
			current=${rest#- }
			current=${current%% *}
			;;
		"# not run: "*)
			echo "$line"
			not_run=$((not_run + 1))
			;;
		"# first failure: "*)
			echo "$line"
			failures+=("# $current: ${line#"# first failure: "}")
			;;
		"#"*) echo "$line" ;;
		esac
	done < <(grep -E '^(ok |not ok |#)' "$dir/console.txt")
	if [ -z "$planned" ] || [ "$((ran + not_run_vm))" -ne "$planned" ]; then
		n=$((n + 1))
		echo "not ok $n - VM $v did not run all its tests (vng exit $vng_rc); end of its console:"
		tail -n 30 "$dir/console.txt" | sed 's/^/# /'
		# What it was running when it stopped (the runner writes a test's log as the test
		# starts), and what the kernel said last: a panic or a hang shows there, not above.
		for log in "$dir"/*.log; do
			[ -f "$log" ] || continue
			name=$(basename "$log" .log)
			grep -qE "^(not )?ok [0-9]+ - $name " "$dir/console.txt" && continue
			echo "# unfinished: $name; end of its log:"
			tail -n 15 "$log" | sed 's/^/#   /'
		done
		echo "# end of the kernel console:"
		tail -n 60 "$dir/kernel-console.txt" | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
	# The whole guest log too: an error at boot or between tests fails the run.
	if [ -f "$dir/dmesg.txt" ]; then
		errors=$(kernel_errors "$dir/dmesg.txt")
		if [ -n "$errors" ]; then
			n=$((n + 1))
			echo "not ok $n - VM $v: guest kernel log has error reports"
			printf '%s\n' "$errors" | sed 's/^/# kernel: /'
			failed=$((failed + 1))
		fi
		kcsan_foreign "$dir/dmesg.txt" | sed 's/^ */# KCSAN, core kernel only (not counted): /'
	fi
done
# Remember how long each test took, for the order of the next run.
touch "$durations"
for ((v = 0; v < vms; v++)); do
	sed -n 's/^\(not \)\{0,1\}ok [0-9]* - \([^ ]*\) (.*\b\([0-9][0-9]*\)s)$/\2 \3/p' "$results/vm$v/console.txt"
done | awk 'FNR == NR { seen[$1] = 1; print; next } !($1 in seen)' - "$durations" 2>/dev/null \
	>"$durations.new" && mv "$durations.new" "$durations"
# Store the passes of every VM whose whole kernel log is clean (a VM that died has no log),
# under the key computed before the boot if the inputs are still the same (an edit during the
# run may or may not have been seen by the guest).
common_after=$(cache_common "$top")
declare -A path_of
for t in "${tests[@]}"; do path_of[$(basename "$t" .sh)]=$t; done
for ((v = 0; v < vms; v++)); do
	dir="$results/vm$v"
	[ -f "$dir/dmesg.txt" ] && [ -z "$(kernel_errors "$dir/dmesg.txt")" ] || continue
	sed -n 's/^ok [0-9]* - \([^ ]*\) (\([0-9]*\)s)$/\1 \2/p' "$dir/console.txt" | while read -r name secs; do
		t=${path_of[$name]:-}
		[ -n "$t" ] && [ -n "${keys[$t]}" ] || continue
		if [ "$(cache_key "$top" "$t" "$common_after")" = "${keys[$t]}" ]; then
			cache_store "$top" "$t" "${keys[$t]}" "$common" "$secs" "$results"
		else
			echo "# $name: its inputs changed during the run; its result is not cached"
		fi
	done
done
# The first failure of each failed test again, where a reader of the end of the output sees it.
[ ${#failures[@]} -eq 0 ] || printf '%s\n' "${failures[@]}"
summary="qemu-tests: $passed passed, $failed failed${cached[0]:+ (${#cached[@]} of the passed from the result cache)}"
[ "$not_run" -eq 0 ] || summary+=", $not_run not run (SLH_RUN_UNTIL passed)"
echo "$summary"
[ "$failed" -eq 0 ] && [ "$not_run" -eq 0 ]
