#!/bin/bash
# IPVS churn under traffic: 1,200 configuration changes in one ipvsadm -R batch while short
# connections arrive: real servers added, deleted and re-weighted (weight 0 included), the
# service switched among every Rust and C scheduler (ipvsadm -E -s), and every 100 changes the
# service deleted and created again with another scheduler. Seeded (bash RANDOM), so a failure
# replays. Every connection is answered, or refused while no server is usable or no scheduler
# bound; no timeout, no reset, no kernel error. Then every module unloads.
# modules: ip_vs_wlc_rs ip_vs_wrr_rs ip_vs_lblc_rs ip_vs_lblcr_rs ip_vs_rr_rs ip_vs_lc_rs ip_vs_sed_rs ip_vs_nq_rs ip_vs_fo_rs ip_vs_ovf_rs ip_vs_twos_rs ip_vs_dh_rs ip_vs_sh_rs ip_vs_mh_rs
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"

load_every_scheduler
read -r -a scheds <<<"$RUST_SCHEDS $C_ONLY_SCHEDS"

SERVERS=4
topo_up $SERVERS
RANDOM=${SLH_CHURN_SEED:-13}
declare -A present
{
	echo "-A -t $VIP4:80 -s wlc"
	for k in 1 2; do
		echo "-a -t $VIP4:80 -r $(rs_addr4 $k):$RS_PORT -m -w $k"
		present[$k]=1
	done
} >$TMPDIR/start.txt
ipvs -R <$TMPDIR/start.txt
changes=1200
for ((i = 1; i <= changes; i++)); do
	svc="-t $VIP4:80"
	if ((i % 100 == 0)); then
		echo "-D $svc"
		echo "-A $svc -s ${scheds[RANDOM % ${#scheds[@]}]}"
		present=()
		for k in 1 2; do
			echo "-a $svc -r $(rs_addr4 $k):$RS_PORT -m -w $((1 + RANDOM % 4))"
			present[$k]=1
		done
		continue
	fi
	k=$((1 + RANDOM % SERVERS))
	case $((RANDOM % 4)) in
	0)
		if [ -z "${present[$k]:-}" ]; then
			echo "-a $svc -r $(rs_addr4 $k):$RS_PORT -m -w $((RANDOM % 5))"
			present[$k]=1
		elif [ ${#present[@]} -gt 1 ]; then
			echo "-d $svc -r $(rs_addr4 $k):$RS_PORT"
			unset "present[$k]"
		else
			echo "-e $svc -r $(rs_addr4 $k):$RS_PORT -m -w $((1 + RANDOM % 4))"
		fi
		;;
	1)
		if [ -n "${present[$k]:-}" ]; then
			echo "-e $svc -r $(rs_addr4 $k):$RS_PORT -m -w $((RANDOM % 5))"
		else
			echo "-a $svc -r $(rs_addr4 $k):$RS_PORT -m -w $((RANDOM % 5))"
			present[$k]=1
		fi
		;;
	*) echo "-E $svc -s ${scheds[RANDOM % ${#scheds[@]}]}" ;;
	esac
done >$TMPDIR/churn.txt
lines=$(wc -l <$TMPDIR/churn.txt)

ip netns exec cl /usr/bin/python3 -I -S "$LIB/client.py" "$VIP4" 80 <<<"short 100000" >$TMPDIR/traffic.txt &
traffic=$!
wait_for "first connection answered" grep -q '^rs' $TMPDIR/traffic.txt
ipvs -R <$TMPDIR/churn.txt 2>$TMPDIR/churn.err || fail "ipvsadm -R: $(cat $TMPDIR/churn.err)"
[ ! -s $TMPDIR/churn.err ] || fail "ipvsadm -R refused changes: $(head -n 3 $TMPDIR/churn.err)"
kill $traffic
wait $traffic 2>/dev/null || true
answered=$(grep -c '^rs' $TMPDIR/traffic.txt || true)
refused=$(grep -c '^error .*Connection refused' $TMPDIR/traffic.txt || true)
if grep -v -e '^rs' -e '^error .*Connection refused' $TMPDIR/traffic.txt; then
	fail "connections neither answered nor refused (above)"
fi
[ "$answered" -ge 20 ] || fail "only $answered connections answered during the churn"
echo "ok: $changes changes ($lines ipvsadm lines) under traffic: $answered connections answered, $refused refused"

ipvs -C
topo_down
unload_every_scheduler
