#!/usr/bin/env bash
# The clone's files in $SLH_CACHE/VARIANT/tree, with the modules built there against the
# VARIANT kernel (kernel/VARIANT.config, built by SLH_KVARIANT=VARIANT scripts/kernel.sh):
# make test-debug and make bench run a kernel of their own without touching the clone's
# modules, which make test uses. The tree's target/ is a link to the clone's (the user-space
# tools are the same); its ../shared is the clone's. usage: variant-tree.sh VARIANT
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export SLH_KVARIANT=$1
. "$top/scripts/env.sh"
tree=$SLH_CACHE/$1/tree
mkdir -p "$tree"
# The tests find the recorded traces at $SLH_TOP/../shared, as in a clone beside ../shared.
ln -sfn "$top/../shared" "$SLH_CACHE/$1/shared"
# By content, and with the time of the copy (no -t): a file copied from a clone whose edit is
# older than the tree's last build (another branch) must still be newer than its objects, or
# make keeps the modules of the other sources.
rsync -rlpD --checksum --delete --exclude /.git --exclude /target --exclude '*.o' --exclude '*.ko' \
	--exclude '*.mod' --exclude '*.mod.c' --exclude '.*.cmd' --exclude modules.order \
	--exclude Module.symvers "$top/" "$tree/"
ln -sfn "$top/target" "$tree/target"
bash "$tree/scripts/modules.sh"
