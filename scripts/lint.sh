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
*)
	echo "usage: lint.sh shellcheck|rustfmt|clippy|forbid" >&2
	exit 2
	;;
esac
