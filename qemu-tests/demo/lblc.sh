#!/bin/bash
# `make demo`, inside the VM, second part: the Rust lblc in a transparent cache cluster. Every
# connection to port 80 of any address goes through the director, and lblc keeps each
# destination address (the "target", e.g. a video server) on one cache, so each cache holds
# its own share of the content.
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/trace_scenario.sh"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Loading the Rust lblc scheduler"
unload_schedulers lblc
insmod "$(rust_module lblc)"
modinfo "$(rust_module lblc)" | grep -E '^(name|description):'
echo "net.ipv4.vs.lblc_expiration = $(cat /proc/sys/net/ipv4/vs/lblc_expiration) s (its sysctl, per namespace)"

say "Transparent cache: client -> director (iptables marks port 80 to any address, IPVS firewall-mark service, lblc) -> caches rs1, rs2, rs3"
cache_up
cache_service 4 lblc
ipvs -Ln
echo "IPVS holds the Rust module: /sys/module/ip_vs_lblc_rs/refcnt = $(cat /sys/module/ip_vs_lblc_rs/refcnt)"

tmp=$(mktemp -d)
say "12 video-server addresses from the UMass YouTube trace, each requested three times"
trace_targets "$tmp" 12 0 >/dev/null
for round in 1 2 3; do
	trace_cmd replay "$tmp/targets4" "$tmp/round$round" >/dev/null
done
printf '%-18s %-6s %-6s %-6s\n' target "1st" "2nd" "3rd"
paste "$tmp/round1" "$tmp/round2" "$tmp/round3" |
	awk '{printf "%-18s %-6s %-6s %-6s\n", $1, $2, $4, $6}'
echo "(weights 1:2:3: a new target goes to the least-loaded cache, then stays there)"

say "ipvsadm -Ln --stats (Conns: 36 connections, 3 per target)"
sleep 2 # IPVS's estimator thread refreshes these counters every 2 s
ipvs -Ln --stats

cache_down
rmmod ip_vs_lblc_rs
say "Done: service removed, module unloaded"
