#!/usr/bin/env bash
# make bench: every benchmark, from a fresh clone (installs what it needs).
# On the host (the hash core, rust/sock_level_hash/core):
#   1. time per hash (Criterion), against DPDK's rte_softrss measured in the same run
#   2. balance of the hash functions on the traces in ../shared/data, against an ideal random
#      assignment (Monte Carlo, fixed seed)
# In the VM (our patches on the bench kernel, kernel/bench.config: no lock or RCU checking;
# under TCG; builds or reuses the kernel and the modules first):
#   3. the accept path of a pre-fork server: SO_SOCKLEVELHASH against a shared listener and
#      SO_REUSEPORT + BPF (vm-bench/run.sh, same boot as 4)
#   4. the paper's experiment 2: an unmodified pre-fork server under the preload shim
#   5. the IPVS schedulers, Rust against the kernel's C modules (vm-bench/ipvs/run.sh)
#   6. stickiness against availability: one slow worker of four, the bounded wait against the
#      strict mode and a shared listener (vm-bench/run.sh, same boot as 3-4)
#   7. against SO_REUSEPORT + eBPF + tcp_migrate_req: workers killed, added, stopped and a
#      reload under load (vm-bench/run.sh, same boot as 3-4)
#   8. the hooks' cost: instructions per accepted connection under QEMU -icount, a plain
#      listener with the module not loaded, loaded and unused, and with the option
#      (vm-bench/hooks/run.sh)
# Writes docs/results/ (tables, CSV, PNG plots, README.md with this run's summary).
# Numbers move with the machine's load; the ratios are measured within one run. Never fails
# because a number moved; a part that could not run says so and the others still run.
# SLH_BENCH_PARTS="host vm" (default both) picks the parts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/env.sh"
cd "$root"
started=$(date +%s)

parts=${SLH_BENCH_PARTS:-host vm}
bash "$here/bootstrap-bench.sh"

data=${SLH_DATA:-$root/../shared/data}
out=${SLH_RESULTS:-docs/results}
target=${CARGO_TARGET_DIR:-$root/target}
logs="$target/bench-logs"
export CRITERION_HOME="$target/criterion"
mkdir -p "$out" "$logs"
summary="$logs/summary.txt"
: >"$summary"

failed=()
if [[ " $parts " == *" host "* ]]; then
	echo "== building (cargo, release, feature bench)"
	cargo build --quiet --release -p sock-level-hash-bench --features bench --bins
	cargo bench --quiet --no-run -p sock-level-hash-bench --features bench --bench hash

	echo "== 1. time per hash: Criterion (log: ${logs#"$root"/}/criterion.txt)"
	rm -rf "$CRITERION_HOME/hash" "$CRITERION_HOME/toeplitz"
	cargo bench --quiet -p sock-level-hash-bench --features bench --bench hash >"$logs/criterion.txt" 2>&1 ||
		{ tail -20 "$logs/criterion.txt"; exit 1; }

	echo "== 1. time per hash: DPDK thash_perf_autotest (log: ${logs#"$root"/}/dpdk.txt)"
	dpdk_version=$(dpkg-query -W -f='${Version}' dpdk-dev 2>/dev/null || true)
	if command -v dpdk-test >/dev/null; then
		# No hugepages, no devices; --no-shconf and its own prefix: no clash with another DPDK
		# process. The test name comes from the environment, so no stdin is needed.
		rc=0
		DPDK_TEST=thash_perf_autotest timeout 600 dpdk-test --no-huge --no-pci --no-shconf \
			--file-prefix slh-bench -m 512 -l 0 </dev/null >"$logs/dpdk.txt" 2>&1 || rc=$?
		if [ "$rc" -ne 0 ]; then
			echo "dpdk-test thash_perf_autotest failed (exit $rc), see ${logs#"$root"/}/dpdk.txt" >>"$logs/dpdk.txt"
		fi
	else
		echo "DPDK could not be installed (Debian package dpdk-dev, binary dpdk-test): no anchor measured" >"$logs/dpdk.txt"
	fi

	target/release/slh-hash-report --criterion "$CRITERION_HOME" --dpdk "$logs/dpdk.txt" \
		--dpdk-version "${dpdk_version:-none}" --out "$out" | tee -a "$summary"

	echo "== 2. balance on real traffic"
	target/release/slh-balance --data "$data" --out "$out" --trials 200 | tee -a "$summary"
fi

if [[ " $parts " == *" vm "* ]]; then
	# The bench kernel (kernel/bench.config: the test kernel without lock and RCU checking,
	# whose bookkeeping would be most of what a scheduler costs), and the modules built
	# against it in a copy of the clone (scripts/variant-tree.sh): make test keeps the clone's.
	echo "== 3-8. the bench kernel and the modules the VM runs (scripts/kernel.sh reuses a cached build)"
	bash "$here/bootstrap.sh"
	export SLH_KVARIANT=bench
	bash "$here/kernel.sh"
	bash "$here/variant-tree.sh" bench >/dev/null
	tree=$SLH_CACHE/bench/tree
	case $out in /*) abs_out=$out ;; *) abs_out=$root/$out ;; esac
	# Each part reports what it measured even when another could not run.
	set +e
	for part in "vm-bench/run.sh|sections 3, 4, 6 and 7" "vm-bench/ipvs/run.sh|section 5" \
		"vm-bench/hooks/run.sh|section 8"; do
		bash "$tree/${part%%|*}" "$abs_out" 2>&1 | tee -a "$summary"
		[ "${PIPESTATUS[0]}" -eq 0 ] || failed+=("${part#*|} (${part%%|*})")
		echo | tee -a "$summary"
	done
	set -e
fi
elapsed=$(($(date +%s) - started))
{
	echo "# Benchmark results"
	echo
	echo "Written by \`make bench\` (\`scripts/bench.sh\`) on $(date -u +%Y-%m-%d) at commit" \
		"$(git rev-parse --short HEAD 2>/dev/null || echo '?'); the run took ${elapsed} s."
	echo "How to read them: [analysis.md](analysis.md); the bounded wait: [bounded-wait.md](bounded-wait.md)."
	echo
	echo "- [hash-timing.md](hash-timing.md), [hash-timing.csv](hash-timing.csv): time per hash, against DPDK's \`rte_softrss\` and the papers"
	echo "- [balance.md](balance.md), [balance.csv](balance.csv): balance on the traces, against an ideal random assignment"
	for png in balance-nstd-per-connection balance-nstd-per-client balance-maxmean-per-connection balance-maxmean-per-client; do
		echo "- [$png.png]($png.png)"
	done
	echo "- [vm-accept.md](vm-accept.md), [vm-accept.csv](vm-accept.csv): the accept path in the VM, SO_SOCKLEVELHASH against a shared listener and SO_REUSEPORT + BPF"
	echo "- [vm-paper.md](vm-paper.md), [vm-paper.csv](vm-paper.csv): the paper's experiment 2, an unmodified pre-fork server under the shim"
	echo "- [vm-availability.md](vm-availability.md), [vm-availability.csv](vm-availability.csv), [vm-availability.png](vm-availability.png): stickiness against availability, one slow worker of four"
	echo "- [vm-reuseport.md](vm-reuseport.md), [vm-reuseport.csv](vm-reuseport.csv): against SO_REUSEPORT + eBPF + tcp_migrate_req, workers killed, added, stopped, reloaded"
	echo "- [ipvs-schedule.md](ipvs-schedule.md), [ipvs-connrate.md](ipvs-connrate.md), [ipvs-lblc-1m.md](ipvs-lblc-1m.md) (and their .csv): the IPVS schedulers, Rust against C"
	echo "- [vm-hooks-icount.md](vm-hooks-icount.md), [vm-hooks-icount.csv](vm-hooks-icount.csv): instructions per accepted connection, the hooks unused and used"
	if [ ${#failed[@]} -gt 0 ]; then
		echo
		echo "Parts that did not finish in this run (their files may be from an earlier run): ${failed[*]}."
	fi
	echo
	echo "What the run printed:"
	echo
	echo '```text'
	cat "$summary"
	echo '```'
} >"$out/README.md"
echo "== make bench done in ${elapsed} s; results in $out/"
if [ ${#failed[@]} -gt 0 ]; then
	echo "== not finished: ${failed[*]}"
	exit 1
fi
