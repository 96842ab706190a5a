# What counts as a kernel error report in a guest log, for the runner (per test) and run.sh
# (whole log). The words come from the kernel's own report headers; lockdep's and RCU's
# reports also start with "WARNING:" or "BUG:".
KERNEL_ERRORS='BUG:|WARNING:|Oops|KASAN|UBSAN|ODEBUG|lockdep|RCU stall|detected stall|list_add corruption|list_del corruption'
# Boot banners that contain those words without reporting anything.
KERNEL_ERRORS_BENIGN='RCU lockdep checking is enabled'

# A data race that KCSAN reports ("BUG: KCSAN: data-race in A / B", on make test-debug's race
# kernel) counts when A or B is code we wrote or changed: the C of patches/ (the socket-level
# hash, the listener functions it hooks, the socket options) and IPVS, whose core calls our
# schedulers. Races of the core kernel between functions of its own, which upstream annotates
# one at a time, are left to it: kcsan_foreign lists them, they fail nothing.
KCSAN_OURS='sock_level_hash|inet_csk_accept|inet_csk_reqsk_queue_add|inet_csk_listen_stop|inet_csk_wait_for_connect|tcp_poll|__tcp_close|sk_setsockopt|sk_getsockopt|ip_vs_|rust_helper_'

# kernel_errors FILE: print the error lines of a kernel log (none: prints nothing).
kernel_errors() {
	grep -E "$KERNEL_ERRORS" "$1" | grep -vE "$KERNEL_ERRORS_BENIGN" |
		grep -vE "BUG: KCSAN: " | head -n 5
	grep -E "BUG: KCSAN: " "$1" | grep -E "$KCSAN_OURS" | head -n 5
	return 0
}

# kcsan_foreign FILE: the KCSAN reports of a kernel log that kernel_errors leaves out.
kcsan_foreign() {
	grep -E "BUG: KCSAN: " "$1" | grep -vE "$KCSAN_OURS" | sort | uniq -c
	return 0
}
