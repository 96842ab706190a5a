#!/bin/bash
# `make demo`, inside the VM: the Rust wlc scheduler balancing real connections.
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Kernel $(uname -r); loading the Rust wlc scheduler"
unload_schedulers wlc
insmod "$(rust_module wlc)"
modinfo "$(rust_module wlc)" | grep -E '^(name|description|license):'

say "Topology: client -> director (IPVS NAT, VIP $VIP4:80) -> rs1, rs2, rs3 (network namespaces)"
topo_up 3
ipvs -A -t "$VIP4:80" -s wlc
for k in 1 2 3; do ipvs -a -t "$VIP4:80" -r "$(rs_addr4 $k):$RS_PORT" -m -w "$k"; done
ipvs -Ln
echo "IPVS holds the Rust module: /sys/module/ip_vs_wlc_rs/refcnt = $(cat /sys/module/ip_vs_wlc_rs/refcnt)"

client_start "$VIP4" 80
say "Opening 60 long-lived connections; each line is the real server that answered"
names=$(client_open 60)
printf '%s\n' "$names" | paste -sd' ' | fold -w 96
echo "connections per server (weights 1:2:3): $(counts "rs1 rs2 rs3" <<<"$names" | tr / ' ')"

say "ipvsadm -Ln --stats (Conns = connections scheduled to each real server)"
ipvs -Ln --stats
say "ipvsadm -Ln (ActiveConn = connections still open)"
ipvs -Ln

say "Quiescing rs1 (weight 0) and opening 10 more: rs1 gets none"
ipvs -e -t "$VIP4:80" -r "$(rs_addr4 1):$RS_PORT" -m -w 0
names=$(client_open 10)
echo "rs1/rs2/rs3: $(counts "rs1 rs2 rs3" <<<"$names")"
ipvs -Ln

client_stop
ipvs -C
topo_down
rmmod ip_vs_wlc_rs
say "Done: service removed, module unloaded"
