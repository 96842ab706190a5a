# What counts as a kernel error report in a guest log, for the runner (per test) and run.sh
# (whole log). The words come from the kernel's own report headers; lockdep's and RCU's
# reports also start with "WARNING:" or "BUG:".
KERNEL_ERRORS='BUG:|WARNING:|Oops|KASAN|UBSAN|ODEBUG|lockdep|RCU stall|detected stall|list_add corruption|list_del corruption'
# Boot banners that contain those words without reporting anything.
KERNEL_ERRORS_BENIGN='RCU lockdep checking is enabled'

# kernel_errors FILE: print the error lines of a kernel log (none: prints nothing).
kernel_errors() {
	grep -E "$KERNEL_ERRORS" "$1" | grep -vE "$KERNEL_ERRORS_BENIGN" | head -n 5
}
