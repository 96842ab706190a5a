#!/usr/bin/env bash
# The rules tools check, one per call (make test counts each as a test):
#   lint.sh shellcheck   every shell file of scripts/, qemu-tests/, vm-bench/ and .ci/, at
#                        severity warning (.shellcheckrc: the sourced libraries are bash)
#   lint.sh rustfmt      cargo fmt --check on the workspace (the cores the modules include too)
#   lint.sh clippy       cargo clippy -D warnings on the workspace, tests and benches included
#   lint.sh forbid       #![forbid(unsafe_code)] in every core file, so that it holds when a
#                        module includes the file by path, without the crate root
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
	echo "rustfmt: clean"
	;;
clippy)
	cargo clippy --quiet --workspace --all-targets -- -D warnings
	echo "clippy: clean"
	;;
forbid)
	missing=$(git ls-files 'rust/*/core/src/*.rs' | xargs grep -L '^#!\[forbid(unsafe_code)\]' || true)
	if [ -n "$missing" ]; then
		echo "without #![forbid(unsafe_code)]:" $missing
		exit 1
	fi
	echo "forbid: every core file forbids unsafe code"
	;;
*)
	echo "usage: lint.sh shellcheck|rustfmt|clippy|forbid" >&2
	exit 2
	;;
esac
