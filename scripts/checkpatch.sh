#!/usr/bin/env bash
# Runs the kernel's checkpatch.pl --strict on every patch of the series; fails on any error,
# warning or check. The one warning not taken from checkpatch is FILE_PATH_CHANGES ("does
# MAINTAINERS need updating?"), which it prints for every new file: instead, each new file
# must already be covered by a MAINTAINERS entry (get_maintainer.pl finds a maintainer list).
# Nor UNKNOWN_COMMIT_ID: the tree is Debian's tarball without upstream history, so the commit
# of a Fixes: tag is never found in it (the tag's form is still checked, GIT_COMMIT_ID).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/env.sh"
cd "$SLH_KSRC"
export PATH="$SLH_VENV/bin:$PATH" # python3 with ply for scripts/spdxcheck.py
ignore=FILE_PATH_CHANGES,UNKNOWN_COMMIT_ID
rc=0
for p in "$top"/patches/*.patch; do
	name=$(basename "$p")
	if ! perl scripts/checkpatch.pl --strict --quiet --ignore "$ignore" "$p"; then
		echo "checkpatch: $name: FAILED"
		rc=1
		continue
	fi
	if ! perl scripts/get_maintainer.pl --no-git --no-git-fallback "$p" 2>/dev/null |
		grep -qE '\((maintainer|supporter):'; then
		echo "checkpatch: $name: touches files no MAINTAINERS entry covers"
		rc=1
	fi
	echo "checkpatch: $name: clean"
done
exit $rc
