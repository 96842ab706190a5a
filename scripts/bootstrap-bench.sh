#!/usr/bin/env bash
# Installs what `make bench` needs beyond cargo and is not there yet; idempotent.
#   dpdk-dev           dpdk-test, whose thash_perf_autotest times DPDK's rte_softrss (the anchor
#                      of the timing benchmark). Optional: if it cannot be installed, the
#                      benchmark says so instead of printing a ratio.
#   fonts-dejavu-core  the TTF the plots draw their text with (no fontconfig needed).
# Only `make bench` calls this; `make test` never needs it.
set -uo pipefail

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

updated=
install() {
	export DEBIAN_FRONTEND=noninteractive
	if [ -z "$updated" ]; then
		apt-get -o DPkg::Lock::Timeout=300 update -qq && updated=1
	fi
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >/dev/null
}

status=0
if ! installed fonts-dejavu-core; then
	echo "bootstrap-bench: installing fonts-dejavu-core"
	install fonts-dejavu-core || { echo "bootstrap-bench: could not install fonts-dejavu-core" >&2; status=1; }
fi
if ! installed dpdk-dev || ! command -v dpdk-test >/dev/null; then
	echo "bootstrap-bench: installing dpdk-dev (for dpdk-test)"
	install dpdk-dev || echo "bootstrap-bench: could not install dpdk-dev: the DPDK anchor will be reported as not measured" >&2
fi
exit $status
