# TAP helpers for shell tests: source this file.
tap_n=0
tap_failed=0

tap_ok() {	# STATUS NAME
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

tap_is() {	# GOT WANT NAME
	if [ "$1" = "$2" ]; then
		tap_ok 0 "$3"
	else
		tap_ok 1 "$3"
		echo "#   got:  $1"
		echo "#   want: $2"
	fi
}

tap_skip() {	# REASON COUNT
	_i=0
	while [ "$_i" -lt "$2" ]; do
		tap_n=$((tap_n + 1))
		echo "ok $tap_n # SKIP $1"
		_i=$((_i + 1))
	done
}

tap_diag() {
	echo "$*" | sed 's/^/# /'
}

# tap_wait_for COMMAND SECONDS: polls every 0.1 s until COMMAND succeeds.
tap_wait_for() {
	_i=0
	while [ "$_i" -lt $(($2 * 10)) ]; do
		if eval "$1"; then
			return 0
		fi
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}
