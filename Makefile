# One target per thing a user does. Every target installs what it needs first (bootstrap).
.PHONY: demo test test-debug bench bootstrap kernel modules userspace host-test qemu-test checkpatch lint clean

# Boot the VM and watch the Rust wlc scheduler balance real connections.
demo: modules userspace
	@bash scripts/demo.sh

# Everything: host tests, checkpatch, every qemu-test; ends with "N passed, N failed".
test:
	@bash scripts/test.sh

# The qemu-tests on a second cached kernel with KASAN, KMEMLEAK, UBSAN and debug objects, the
# fuzzer at 1M calls; any report fails. Not in CI (hours under TCG); TESTS="..." picks some.
test-debug: bootstrap
	@bash scripts/test-debug.sh

# Benchmarks: the hash core on the host (time per hash vs DPDK, balance on real traces), then in
# the VM the accept path, the paper's experiment 2 and the IPVS schedulers Rust vs C; writes
# docs/results/. SLH_BENCH_PARTS="host" or "vm" runs one half.
bench:
	@bash scripts/bench.sh

# Install missing Debian packages, bindgen-cli and virtme-ng (idempotent).
bootstrap:
	@bash scripts/bootstrap.sh

# Build (or reuse) the patched 6.12 kernel in the cache ($$SLH_CACHE, default ~/.cache/socklevelhash).
kernel: bootstrap
	@bash scripts/kernel.sh

# Build the Rust kernel modules against that kernel.
modules: kernel
	@bash scripts/modules.sh

# The user-space tools the VM runs: the slh tool and the LD_PRELOAD shim (target/debug/).
userspace:
	cargo build --quiet -p slh-cli -p slh-preload

# Only the host tests (cargo).
host-test:
	cargo test --workspace

# Only the qemu-tests; pick some with TESTS="wlc_module wrr_nat".
qemu-test: modules userspace
	@bash scripts/selftests.sh
	@bash qemu-tests/run.sh $(TESTS)

# checkpatch.pl on the patch series.
checkpatch: kernel
	@bash scripts/checkpatch.sh

# The rules tools check: shellcheck, rustfmt, clippy, #![forbid(unsafe_code)] in the cores.
lint: bootstrap
	@for rule in shellcheck rustfmt clippy forbid stack; do bash scripts/lint.sh $$rule || exit 1; done

clean:
	find rust -name '*.o' -o -name '*.ko' -o -name '*.mod*' -o -name '.*.cmd' -o -name '*.rmeta' | xargs rm -f
	rm -f modules.order Module.symvers
	cargo clean
