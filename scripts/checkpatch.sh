#!/usr/bin/env bash
# Runs the kernel's checkpatch.pl on every patch of the series; fails if any patch has an
# error or a warning.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/env.sh"
rc=0
for p in "$top"/patches/*.patch; do
	if perl "$SLH_KSRC/scripts/checkpatch.pl" --no-tree --quiet --strict "$p"; then
		echo "checkpatch: $(basename "$p"): clean"
	else
		echo "checkpatch: $(basename "$p"): FAILED"
		rc=1
	fi
done
exit $rc
