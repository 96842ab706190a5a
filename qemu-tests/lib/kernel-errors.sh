# What counts as a kernel error report in a guest log, for the runner (per test) and run.sh
# (whole log). The words come from the kernel's own report headers; lockdep's and RCU's
# reports also start with "WARNING:" or "BUG:".
KERNEL_ERRORS='BUG:|WARNING:|Oops|KASAN|UBSAN|ODEBUG|lockdep|RCU stall|detected stall|list_add corruption|list_del corruption'
# Boot banners that contain those words without reporting anything.
KERNEL_ERRORS_BENIGN='RCU lockdep checking is enabled'

# A data race that KCSAN reports (make test-debug's race kernel) counts when its report names
# code we wrote or changed anywhere, title or stack: the C of patches/ (the socket-level hash,
# the listener functions it hooks, the socket options), IPVS, whose core calls our
# schedulers, and our Rust modules' frames. Rust is not instrumented: a race between our Rust
# and C shows from the C side only, as a "race at unknown origin" in one of the C functions
# that share state with our modules, which are in the list. An unknown origin elsewhere is a
# writer that KCSAN does not watch (a virtio device's DMA into its ring at boot, the core
# TCP metrics cache) and is listed, as are races of the core kernel among its own functions,
# which upstream annotates one at a time: kcsan_foreign lists them, they fail nothing.
KCSAN_OURS='sock_level_hash|inet_csk_accept|inet_csk_reqsk_queue_add|inet_csk_listen_stop|inet_csk_wait_for_connect|tcp_poll|__tcp_close|sk_setsockopt|sk_getsockopt|ip_vs_|rust_helper_'

# kernel_log_reports FILE MODE: the error lines of a kernel log (MODE errors), or the titles
# of its KCSAN reports that name nothing of ours (MODE foreign). A KCSAN report is a block
# from its "BUG: KCSAN:" title to its closing line of "="; none of its lines counts as an
# error line of its own.
kernel_log_reports() {
	awk -v mode="$2" -v errors="$KERNEL_ERRORS" -v benign="$KERNEL_ERRORS_BENIGN" \
		-v ours="$KCSAN_OURS" '
		function report() {
			if (mode == "errors" && ours_seen) print title
			if (mode == "foreign" && !ours_seen) print title
			in_report = 0
		}
		/BUG: KCSAN: / {
			if (in_report) report()
			in_report = 1
			title = $0
			ours_seen = $0 ~ ours || $0 ~ /race at unknown origin/
			next
		}
		in_report && /=====/ { report(); next }
		in_report { if ($0 ~ ours) ours_seen = 1; next }
		mode == "errors" && $0 ~ errors && $0 !~ benign { print }
		END { if (in_report) report() }
	' "$1"
}

# kernel_errors FILE: print the error lines of a kernel log (none: prints nothing).
kernel_errors() {
	kernel_log_reports "$1" errors | head -n 5
	return 0
}

# kcsan_foreign FILE: the KCSAN reports of a kernel log that kernel_errors leaves out, each
# title once with its count.
kcsan_foreign() {
	kernel_log_reports "$1" foreign | sed 's/^\[[^]]*\] *//' | sort | uniq -c
	return 0
}
