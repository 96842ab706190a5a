#!/bin/bash
# Rust dh (destination hashing) against the kernel's C dh, as a transparent cache (LVS's
# firewall-mark set-up of lib/trace_scenario.sh: port 80 to any destination, three cache
# servers, NAT), replaying 300 IPv4 and 100 IPv6 destination addresses of the UMass YouTube
# trace: the same server for every destination, with every server up, with rs2 quiesced
# (its destinations refused, the others stay: 20 destinations of the others and one of rs2's,
# since the client waits 20 s for a refusal it is not told of) and, rs2 back, with rs3 deleted
# (the table rebuilt).
# modules: ip_vs_dh_rs   (loaded by this test; the result cache keys on them, see lib/modules.sh)
set -eu
. "$SLH_TOP/qemu-tests/lib/common.sh"
. "$SLH_TOP/qemu-tests/lib/trace_scenario.sh"
trace_require
out=$(mktemp -d)
cache_up
lb_refuse_at_once
trace_targets "$out/tmp" 300 100
for impl in rust c; do
	use_scheduler "$impl" dh
	for family in 4 6; do
		f=$out/$impl/v$family
		mkdir -p "$out/$impl"
		six=""
		[ $family = 6 ] && six=-6
		cache_service $family dh
		trace_cmd replay "$out/tmp/targets$family" "$f-A-all"
		quiesced=$out/tmp/quiesced$family
		if [ $impl = rust ]; then
			# The same destinations for both runs (a difference in A is caught below).
			trace_cmd pick "$f-A-all" rs1,rs3 "$quiesced" 20 >/dev/null
			trace_cmd pick "$f-A-all" rs2 "$quiesced.rs2" 1 >/dev/null
			cat "$quiesced.rs2" >>"$quiesced"
		fi
		ipvs -e -f $TRACE_MARK $six -r "$(rs_of $family 2)" -m -w 0
		trace_cmd replay "$quiesced" "$f-B-rs2-quiesced"
		ipvs -e -f $TRACE_MARK $six -r "$(rs_of $family 2)" -m -w 2
		ipvs -d -f $TRACE_MARK $six -r "$(rs_of $family 3)"
		trace_cmd replay "$out/tmp/targets$family" "$f-C-rs3-deleted"
		ipvs -Ln --stats
	done
	ipvs -C
	unload_schedulers dh
done
cache_down

for family in 4 6; do
	f=$out/rust/v$family
	assert_eq "dh v$family: every destination answered" 0 "$(grep -c ' error' "$f-A-all" || true)"
	assert_eq "dh v$family: every server used" 3 "$(awk '{print $2}' "$f-A-all" | sort -u | wc -l)"
	assert_eq "dh v$family: destinations replayed quiesced" 21 "$(wc -l <"$f-B-rs2-quiesced")"
	awk -v fam="$family" '
		NR == FNR { was[$1] = $2; next }
		was[$1] == "rs2" && $2 != "error" { bad = bad " " $1 ": rs2 -> " $2 }
		was[$1] != "rs2" && $2 != was[$1] { bad = bad " " $1 ": " was[$1] " -> " $2 }
		END { if (bad != "") { print "FAIL: IPv" fam " rs2 quiesced:" bad; exit 1 } }
	' "$f-A-all" "$f-B-rs2-quiesced" || fail "dh v$family: rs2 quiesced (above)"
	echo "ok: dh v$family: rs2 quiesced: its destinations refused, the others stay"
	assert_eq "dh v$family: none to rs3 once deleted" 0 "$(awk '$2 == "rs3"' "$f-C-rs3-deleted" | wc -l)"
done
same_choices dh "$out/rust" "$out/c"
