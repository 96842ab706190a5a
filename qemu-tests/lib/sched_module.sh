# The module test of the locality-based schedulers (tests/lblc_module.sh, lblcr_module.sh).
# Sourced after common.sh.

# sched_module_test NAME: the Rust NAME (lblc or lblcr) registers its name in place of the C
# module (which then cannot load), creates its sysctl net.ipv4.vs.NAME_expiration in every
# network namespace with C's default, units and errors, is held by IPVS while a service uses
# it, keeps a deleted real server alive while a table entry references it (no oops, new
# connections avoid it), and unloads cleanly once the service is gone.
sched_module_test() {
	local name=$1 module sysctl what first cached other k
	module=ip_vs_${name}_rs
	sysctl=/proc/sys/net/ipv4/vs/${name}_expiration
	unload_schedulers "$name"
	[ ! -e "$sysctl" ] || fail "$sysctl exists before any $name module is loaded"
	insmod "$(rust_module "$name")"
	case $name in
	lblc) what="locality-based least-connection" ;;
	lblcr) what="locality-based least-connection with replication" ;;
	esac
	assert_eq "$name: module description" "ipvs $what scheduler (Rust)" \
		"$(modinfo -F description "$(rust_module "$name")")"

	# The C module cannot load beside ours: its sysctl (registered first) already exists.
	if insmod "$(c_module "$name")" 2>$TMPDIR/insmod.err; then
		fail "$name: the C module loaded while the Rust one is registered"
	fi
	echo "ok: $name: C module refused while the Rust one is loaded: $(cat $TMPDIR/insmod.err)"

	topo_up 2
	# The sysctl: per namespace, C's default of 24 h, seconds in and out, C's errors.
	assert_eq "$name: default expiration (init namespace)" 86400 "$(cat "$sysctl")"
	assert_eq "$name: default expiration (lb namespace)" 86400 "$(ip netns exec lb cat "$sysctl")"
	ip netns exec lb sh -c "echo 90 >$sysctl"
	assert_eq "$name: expiration set in lb" 90 "$(ip netns exec lb cat "$sysctl")"
	assert_eq "$name: init namespace unchanged" 86400 "$(cat "$sysctl")"
	if ip netns exec lb sh -c "/bin/echo soon >$sysctl" 2>$TMPDIR/sysctl.err; then
		fail "$name: a non-number was accepted"
	fi
	grep -q "Invalid argument" $TMPDIR/sysctl.err || fail "$name: not EINVAL: $(cat $TMPDIR/sysctl.err)"
	echo "ok: $name: a non-number is refused with EINVAL"

	{
		echo "-A -t $VIP4:80 -s $name"
		echo "-a -t $VIP4:80 -r $(rs_addr4 1):$RS_PORT -m -w 1"
		echo "-a -t $VIP4:80 -r $(rs_addr4 2):$RS_PORT -m -w 1"
	} | ipvs -R
	assert_eq "$name: scheduler shown by ipvsadm" "$name" "$(ipvs -Ln | awk '/^TCP/ {print $3}')"
	assert_eq "$name: references with one service" 1 "$(cat /sys/module/$module/refcnt)"
	if lsmod | grep -q "^ip_vs_$name "; then fail "$name: the C module got loaded"; fi

	# Every connection to the VIP (one target) goes to the server the table recorded.
	client_start "$VIP4" 80
	# (The client is a coprocess: its pipes are not open in a $(...) subshell.)
	client_short 6 >$TMPDIR/first.txt
	first=$(sort $TMPDIR/first.txt | uniq -c | awk '{print $2 "x" $1}' | xargs)
	case $first in
	rs1x6 | rs2x6) echo "ok: $name: 6 connections to one target, one server: $first" ;;
	*) fail "$name: connections to one target spread: $first" ;;
	esac
	cached=${first%x6}
	other=$([ "$cached" = rs1 ] && echo rs2 || echo rs1)
	k=${cached#rs}

	# Delete the cached server while the table still references it: it waits in the trash
	# (IPVS shows no trace of it) and new connections go to the other server.
	ipvs -d -t "$VIP4:80" -r "$(rs_addr4 "$k"):$RS_PORT"
	client_short 3 >$TMPDIR/after.txt
	assert_eq "$name: after deleting $cached, connections go to" "$other $other $other" \
		"$(xargs <$TMPDIR/after.txt)"
	client_stop

	if rmmod "$module" 2>$TMPDIR/rmmod.err; then fail "$name: rmmod succeeded while in use"; fi
	grep -q "in use" $TMPDIR/rmmod.err || fail "$name: rmmod failed for another reason: $(cat $TMPDIR/rmmod.err)"
	echo "ok: $name: rmmod refused while in use"
	ipvs -C
	topo_down
	wait_for "$name: last reference dropped" module_unused "$module"
	rmmod "$module"
	[ ! -e "$sysctl" ] || fail "$name: $sysctl left behind after unload"
	echo "ok: $name: unloaded, sysctl removed"
}
