# The persistence scenario: several client source addresses against four services on three
# real servers (weights 1,1,1) behind one forwarding method, all at once:
#   VIP 1  wrr, no persistence (the control: one client's connections spread)
#   VIP 2  wrr -p 300          (each client address sticks to one server)
#   VIP 3  wrr -p 300 -M 255.255.255.0   (each client /24 sticks to one server)
#   VIP 4  lblc -p 300         (the template wins over lblc's overload rule)
# Each case's "CLIENT SERVER" lines go to OUT/<case>.

# persist_conns CMD N CLIENT...: from each CLIENT in turn, N connections (CMD short or open);
# prints "CLIENT SERVER" for each.
persist_conns() {
	local cmd=$1 n=$2 c name
	shift 2
	for c in "$@"; do
		client_from "$c"
		while read -r name; do echo "$c $name"; done < <(client_cmd "$cmd" "$n")
	done
}

# persist_templates VIP < `ipvsadm -Lnc`: the persistence templates of VIP:8080 as
# "CLIENT DEST|CLIENT DEST|...", sorted (ipvsadm lists them in hash order), each pair once:
# when two SYNs of one client reach IPVS at the same moment on two CPUs, both miss the
# template and IPVS creates two identical ones (its template lookup and creation are not
# atomic; seen on a busy VM). A client with two different servers still shows as two pairs.
persist_templates() {
	local line fields t i templates=()
	while read -r line; do
		read -ra fields <<<"$line"
		# A template has client port 0.
		case "${fields[3]:-} ${fields[4]:-}" in
		*":0 $1:$FWD_PORT") ;;
		*) continue ;;
		esac
		t="${fields[3]%:*} ${fields[5]%:*}"
		for i in "${templates[@]}"; do [ "$i" != "$t" ] || continue 2; done
		# Insertion sort: a handful of entries, and no sort process.
		for ((i = ${#templates[@]}; i > 0; i--)); do
			[[ "${templates[$((i - 1))]}" > "$t" ]] || break
			templates[i]=${templates[$((i - 1))]}
		done
		templates[i]=$t
	done
	local IFS='|'
	echo "${templates[*]}"
}

# persist_scenario METHOD WRR_IMPL LBLC_IMPL OUT
persist_scenario() {
	local method=$1 wrr_impl=$2 lblc_impl=$3 out=$4 i f conns
	local -a A B
	read -ra A <<<"$FWD_CLIENTS_A"
	read -ra B <<<"$FWD_CLIENTS_B"
	mkdir -p "$out"
	fwd_topo_up "$method" 3
	use_scheduler "$wrr_impl" wrr
	use_scheduler "$lblc_impl" lblc
	{
		fwd_service "$method" "$(fwd_vip 1)" wrr "" 1 1 1
		fwd_service "$method" "$(fwd_vip 2)" wrr "-p 300" 1 1 1
		fwd_service "$method" "$(fwd_vip 3)" wrr "-p 300 -M 255.255.255.0" 1 1 1
		fwd_service "$method" "$(fwd_vip 4)" lblc "-p 300" 1 1 1
	} | ipvs -R
	check_impl wrr "$wrr_impl" 3
	check_impl lblc "$lblc_impl" 1
	ipvs -Ln

	client_start "$(fwd_vip 1)" "$FWD_PORT"
	# Three rounds: two short connections from each of four clients in turn.
	for _ in 1 2 3; do persist_conns short 2 "${A[@]}"; done >"$out/A-no-persistence"
	client_to "$(fwd_vip 2)"
	for _ in 1 2 3; do persist_conns short 2 "${A[@]}"; done >"$out/B-p300"
	# Two rounds over eight clients in two /24s, alternating between the subnets.
	client_to "$(fwd_vip 3)"
	for _ in 1 2; do
		for i in 0 1 2 3; do persist_conns short 2 "${A[$i]}" "${B[$i]}"; done
	done >"$out/C-p300-M24"
	# lblc with long-lived connections: without persistence the third connection would move
	# to rs2 (rs1 overloaded); with it, every connection of a client follows its template and
	# lblc is asked only for a client's first connection.
	client_to "$(fwd_vip 4)"
	{
		persist_conns open 3 "${A[0]}"
		persist_conns open 2 "${A[1]}"
		persist_conns open 2 "${A[2]}"
		persist_conns open 1 "${A[3]}"
		persist_conns short 2 "${A[0]}"
	} >"$out/D-lblc-p300"
	for f in "$out"/*; do echo "$method, $wrr_impl wrr, $lblc_impl lblc: ${f##*/}: $(words "$f")"; done
	ipvs -Ln
	conns=$(ipvs -Lnc)
	assert_eq "$method: -p 300: one template per client address" \
		"${A[0]} $(rs_addr4 1)|${A[1]} $(rs_addr4 2)|${A[2]} $(rs_addr4 3)|${A[3]} $(rs_addr4 1)" \
		"$(persist_templates "$(fwd_vip 2)" <<<"$conns")"
	assert_eq "$method: -p 300 -M 255.255.255.0: one template per client /24" \
		"198.18.0.0 $(rs_addr4 1)|198.18.200.0 $(rs_addr4 2)" \
		"$(persist_templates "$(fwd_vip 3)" <<<"$conns")"
	assert_eq "$method: lblc -p 300: one template per client address" \
		"${A[0]} $(rs_addr4 1)|${A[1]} $(rs_addr4 2)|${A[2]} $(rs_addr4 3)|${A[3]} $(rs_addr4 3)" \
		"$(persist_templates "$(fwd_vip 4)" <<<"$conns")"
	client_stop
	ipvs -C
	topo_down
	unload_schedulers wrr
	unload_schedulers lblc
}

# servers_of CLIENT < lines: the servers CLIENT reached, in order, on one line.
servers_of() {
	local c name out=""
	while read -r c name; do [ "$c" != "$1" ] || out="$out $name"; done
	echo "${out# }"
}

# check_persist_scenario METHOD OUT_RUST OUT_C
check_persist_scenario() {
	local method=$1 rust=$2 c=$3 a i
	local -a A B
	read -ra A <<<"$FWD_CLIENTS_A"
	read -ra B <<<"$FWD_CLIENTS_B"
	for a in "${A[@]}"; do
		# Round robin over 24 connections, 2 at a time from 4 clients: each client meets
		# every server twice.
		# shellcheck disable=SC2046 # split on purpose
		assert_eq "$method: no persistence: client $a spreads over the servers" 2/2/2 \
			"$(tally "rs1 rs2 rs3" $(servers_of "$a" <"$rust/A-no-persistence"))"
	done
	# The first connection of each client is scheduled (round robin), the rest follow it.
	for i in 0 1 2 3; do
		local s="rs$((i % 3 + 1))"
		assert_eq "$method: -p 300: client ${A[$i]}, 6 connections" "$s $s $s $s $s $s" \
			"$(servers_of "${A[$i]}" <"$rust/B-p300")"
	done
	for i in 0 1 2 3; do
		assert_eq "$method: -p 300 -M /24: client ${A[$i]} (198.18.0.0/24)" "rs1 rs1 rs1 rs1" \
			"$(servers_of "${A[$i]}" <"$rust/C-p300-M24")"
		assert_eq "$method: -p 300 -M /24: client ${B[$i]} (198.18.200.0/24)" "rs2 rs2 rs2 rs2" \
			"$(servers_of "${B[$i]}" <"$rust/C-p300-M24")"
	done
	# A: its 3 connections stay on rs1 (active 3 > weight 1 does not matter to a template).
	# B: lblc sees rs1 overloaded (rs2 idle) and moves the VIP's entry to rs2; C: rs2 is
	# overloaded too, rs3 is next; D: no server is below half its weight, rs3 stays.
	assert_eq "$method: lblc -p 300: client ${A[0]}" "rs1 rs1 rs1 rs1 rs1" "$(servers_of "${A[0]}" <"$rust/D-lblc-p300")"
	assert_eq "$method: lblc -p 300: client ${A[1]}" "rs2 rs2" "$(servers_of "${A[1]}" <"$rust/D-lblc-p300")"
	assert_eq "$method: lblc -p 300: client ${A[2]}" "rs3 rs3" "$(servers_of "${A[2]}" <"$rust/D-lblc-p300")"
	assert_eq "$method: lblc -p 300: client ${A[3]}" "rs3" "$(servers_of "${A[3]}" <"$rust/D-lblc-p300")"
	same_choices "wrr and lblc (persistence, $method)" "$rust" "$c"
}
