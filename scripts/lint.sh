#!/usr/bin/env bash
# The rules tools check, one per call (make test counts each as a test):
#   lint.sh shellcheck   every shell file of scripts/, qemu-tests/, vm-bench/ and .ci/, at
#                        severity warning (.shellcheckrc: the sourced libraries are bash)
#   lint.sh rustfmt      cargo fmt --check on the workspace (the cores the modules include too),
#                        and rustfmt --check on the kernel modules' own files (modules, glue) with
#                        the kernel's rustfmt settings (its .rustfmt.toml: edition 2021, Unix
#                        newlines, the defaults otherwise)
#   lint.sh clippy       cargo clippy -D warnings on the workspace, tests and benches included
#   lint.sh forbid       #![forbid(unsafe_code)] in every core file, and in every file of a
#                        module or glue without unsafe code that is not a crate root, so that it
#                        holds when a module includes the file by path
#   lint.sh stack        no function of the built modules (rust/**/*.ko, make modules) reserves
#                        more than 1 KiB of the kernel's 16 KiB stack: a value built on the stack
#                        and then boxed (a table, a chunk of queues) shows up here, not in rustc
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
shellcheck)
	mapfile -t files < <(
		git ls-files 'scripts/*' 'qemu-tests/*' 'vm-bench/*' '.ci/*' |
			while read -r f; do
				case $f in
				*.sh) echo "$f" ;;
				*) head -c 64 "$f" | grep -qE '^#!.*\b(ba)?sh\b' && echo "$f" ;;
				esac
			done
	)
	shellcheck -S warning "${files[@]}"
	echo "shellcheck: ${#files[@]} files clean"
	;;
rustfmt)
	cargo fmt --all --check
	mapfile -t modules < <(git ls-files 'rust/*.rs' | grep -v -e '/core/' -e '/bench/')
	rustfmt --check --edition 2021 --config newline_style=Unix "${modules[@]}"
	echo "rustfmt: clean (the workspace, and ${#modules[@]} kernel module files)"
	;;
clippy)
	cargo clippy --quiet --workspace --all-targets -- -D warnings
	echo "clippy: clean"
	;;
forbid)
	# A module's crate root is its ip_vs_*_rs.rs or sock_level_hash.rs (Kbuild's objects):
	# forbidding there would forbid the glue the crate includes.
	safe=$(git ls-files 'rust/*.rs' | grep -v -e '/bench/' -e '/core/tests/' -e 'rust/ipvs_sched/ip_vs_' \
		-e 'rust/sock_level_hash.rs' | xargs grep -L 'unsafe' || true)
	missing=$({ git ls-files 'rust/*/core/src/*.rs'; echo "$safe"; } | sort -u | grep . |
		xargs grep -L '^#!\[forbid(unsafe_code)\]' || true)
	if [ -n "$missing" ]; then
		echo "without #![forbid(unsafe_code)]:" $missing
		exit 1
	fi
	echo "forbid: every core file and every safe module file forbids unsafe code"
	;;
stack)
	mapfile -t kos < <(find rust -name '*.ko' | sort)
	if [ "${#kos[@]}" -eq 0 ]; then
		echo "stack: no module built (make modules)"
		exit 1
	fi
	# A frame is reserved by one "sub $N, %rsp" in the function's prologue (the kernel builds
	# Rust without stack probes), N in decimal (LLVM 16 and later print hex by default).
	big=$(for ko in "${kos[@]}"; do
		llvm-objdump -d --no-show-raw-insn --no-print-imm-hex "$ko" |
			awk -v ko="$ko" '/>:$/ { fn = $2 } /sub[q]?\t\$[0-9]+, %rsp/ {
				n = $3; sub(/^\$/, "", n); sub(/,$/, "", n); if (n + 0 > 1024) print ko ": " fn " " n " bytes" }'
	done)
	if [ -n "$big" ]; then
		echo "stack frames over 1 KiB:"
		echo "$big"
		exit 1
	fi
	echo "stack: no frame over 1 KiB in ${#kos[@]} modules"
	;;
*)
	echo "usage: lint.sh shellcheck|rustfmt|clippy|forbid|stack" >&2
	exit 2
	;;
esac
