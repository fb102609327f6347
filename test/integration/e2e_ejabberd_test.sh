#!/bin/sh
# End to end through ejabberd: the scenario of e2e_test.sh with Debian's
# ejabberd 23.01 and its mod_push (src/mod_push.erl) in place of Prosody's
# mod_cloud_notify, and xpushd as its external component (ejabberd_service).
# Alice's phone registers at xpushd, enables push at her server and goes
# away; Bob writes; the mock receives the push; ejabberd receives the
# result.  TAP output.  Where ejabberd differs from Prosody, the comment
# cites the function of mod_push.erl (tag 23.01) that makes the difference.
. "$top_srcdir/test/lib/tap.sh"
E2E_SERVER=ejabberd
. "$top_srcdir/test/lib/e2e.sh"

if ! ejabberd_available || ! pg_available ||
    ! /usr/bin/python3 -c 'import slixmpp, h2, cryptography' 2>/dev/null; then
	if [ -n "${XPUSHD_REQUIRE_ALL:-}" ]; then
		echo "Bail out! needs ejabberd, PostgreSQL, python3-slixmpp, python3-h2"
		exit 1
	fi
	echo "1..0 # SKIP needs ejabberd, PostgreSQL, python3-slixmpp, python3-h2"
	exit 0
fi

cleanup() {
	if [ "$tap_failed" -gt 0 ]; then
		echo "# xpushd log:"; tail -40 "$E2E_XPUSHD_LOG" | sed 's/^/#   /'
		echo "# ejabberd log:"
		grep "mod_push\|error\|warning" "$E2E_SERVER_LOG" | tail -30 | cut -c1-400 | sed 's/^/#   /'
	fi
	e2e_stop
}
trap cleanup EXIT
e2e_start || { echo "Bail out! cannot set up the end-to-end world"; exit 1; }

count() { [ -f "$1" ] && wc -l <"$1" | tr -d ' ' || echo 0; }
# The last request a mock recorded, as one JSON object.
last() { tail -1 "$1"; }
jq_() {	# JSON EXPR: evaluate a Python expression on d = the JSON
	/usr/bin/python3 -c 'import json, sys
d = json.loads(sys.argv[1])
print(eval(sys.argv[2]))' "$1" "$2"
}
wait_count() {	# FILE N SECONDS
	tap_wait_for "[ \$(count '$1') -ge $2 ]" "$3"
}
ejabberd_saw() { grep -c "$1" "$E2E_SERVER_LOG"; }

apns_token=$(printf 'a1%.0s' $(seq 32))

# --- Alice: APNs
out=$(e2e_client --jid alice@localhost -- command push.localhost register-device \
	provider=apns-binary-api device-token="$apns_token")
node=$(e2e_field "$out" node)
secret=$(e2e_field "$out" secret)
[ -n "$node" ] && [ -n "$secret" ]
tap_ok $? "Alice's phone registers at xpushd through ejabberd (node $node)"
out=$(e2e_client --jid alice@localhost -- enable-push push.localhost "$node" "$secret")
tap_is "$out" '{"type": "result"}' "Alice enables push at ejabberd with node and secret, and goes away"

e2e_client --jid bob@localhost -- send alice@localhost "hello alice" >/dev/null
wait_count "$E2E_APNS_RECORD" 1 15
tap_ok $? "Bob writes: the APNs mock receives a push"
r=$(last "$E2E_APNS_RECORD")
tap_is "$(jq_ "$r" 'd["path"]')" "/3/device/$apns_token" "to Alice's device token"
tap_is "$(jq_ "$r" 'd["headers"]["apns-push-type"] + " " + d["headers"]["apns-priority"]')" "alert 10" \
	"an alert with priority 10"
b=$(jq_ "$r" 'd["body"]')
# mod_push:make_summary puts the message's full 'from' (with Bob's
# resource) in last-message-sender; the payload carries the bare JID.
tap_is "$(jq_ "$b" 'd["account"] + "|" + d["sender"] + "|" + d["body"]')" "alice@localhost|bob@localhost|hello alice" \
	"payload keys account, sender, body as Tigase apps read them"
# mod_push:notify/7 logs this (debug) when the publish IQ's result arrives.
tap_wait_for "grep -q 'push.localhost accepted notification for alice@localhost ($node)' '$E2E_SERVER_LOG'" 10
tap_ok $? "ejabberd receives an IQ result"

kill -TERM "$E2E_XPUSHD_PID"
wait "$E2E_XPUSHD_PID"
tap_is "$?" "0" "xpushd stops cleanly"
if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$E2E_XPUSHD_LOG"; then
	tap_ok 1 "no sanitizer report"
	grep -A30 "ERROR: \|runtime error:" "$E2E_XPUSHD_LOG" | head -40 | sed 's/^/# /'
else
	tap_ok 0 "no sanitizer report"
fi
E2E_XPUSHD_PID=
tap_done
