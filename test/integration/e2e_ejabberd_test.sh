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

apns_token=$(printf 'a1%.0s' $(seq 32))
voip_token=$(printf 'c3%.0s' $(seq 32))
dave_token=$(printf 'd4%.0s' $(seq 32))
dead_token=dead$(printf '00%.0s' $(seq 30))
busy_token=5030$(printf '11%.0s' $(seq 30))
# mod_push:notify/5 logs these when the App Server answers a publish with
# an error: type wait is "temporarily" and changes nothing; any other type
# spawns delete_session, at the first such error ("disabling push").
# Prosody counts errors instead (push_max_errors, 16 by default).
sessions() {	# USER NODE: how many push sessions ejabberd holds for them
	ejabberd_push_sessions | grep -c "^$1@localhost $2\$"
}
# USER NODE: ejabberd got cancel/item-not-found for the node and deleted
# the push session (mod_push:notify/5, then delete_session/3).
disabled_by_ejabberd() {
	tap_wait_for "[ \$(e2e_push_disabled '$2') -ge 1 ]" 10
	tap_ok $? "$1: ejabberd receives the error and disables push at once"
	grep "rejected notification for $1@localhost ($2)" "$E2E_SERVER_LOG" |
		grep -q "(item-not-found) (cancel)"
	tap_ok $? "$1: the error is cancel/item-not-found"
	tap_wait_for "[ \$(sessions $1 '$2') = 0 ]" 20
	tap_ok $? "$1: ejabberd deleted the push session"
}
# USER PROVIDER TOKEN [SECOND-TOKEN]: the phone registers at xpushd and
# enables push at ejabberd; prints the node.
push_on() {
	_out=$(e2e_client --jid "$1@localhost" -- command push.localhost register-device \
		provider="$2" device-token="$3" ${4:+device-second-token="$4"})
	_node=$(e2e_field "$_out" node)
	e2e_client --jid "$1@localhost" -- enable-push push.localhost "$_node" \
		"$(e2e_field "$_out" secret)" >/dev/null
	echo "$_node"
}

# --- Alice: APNs
out=$(e2e_client --jid alice@localhost -- command push.localhost register-device \
	provider=apns-binary-api device-token="$apns_token")
node=$(e2e_field "$out" node)
secret=$(e2e_field "$out" secret)
[ -n "$node" ] && [ -n "$secret" ]
tap_ok $? "Alice's phone registers at xpushd through ejabberd (node $node)"
out=$(e2e_client --jid alice@localhost -- enable-push push.localhost "$node" "$secret")
tap_is "$out" '{"type": "result"}' "Alice enables push at ejabberd with node and secret, and goes away"
# mod_push:enable stores the session (node and publish-options) for the
# account; it outlives the client's connection.
tap_is "$(ejabberd_push_sessions | grep -c "^alice@localhost $node\$")" "1" \
	"ejabberd stored Alice's push session"

e2e_client --jid bob@localhost -- send alice@localhost "hello alice" >/dev/null
e2e_wait_count "$E2E_APNS_RECORD" 1 15
tap_ok $? "Bob writes: the APNs mock receives a push"
r=$(e2e_last "$E2E_APNS_RECORD")
tap_is "$(e2e_jq "$r" 'd["path"]')" "/3/device/$apns_token" "to Alice's device token"
tap_is "$(e2e_jq "$r" 'd["headers"]["apns-push-type"] + " " + d["headers"]["apns-priority"]')" "alert 10" \
	"an alert with priority 10"
b=$(e2e_jq "$r" 'd["body"]')
# mod_push:make_summary puts the message's full 'from' (with Bob's
# resource) in last-message-sender; the payload carries the bare JID.
tap_is "$(e2e_jq "$b" 'd["account"] + "|" + d["sender"] + "|" + d["body"]')" "alice@localhost|bob@localhost|hello alice" \
	"payload keys account, sender, body as Tigase apps read them"
# mod_push:notify/7 logs this (debug) when the publish IQ's result arrives.
tap_wait_for "grep -q 'push.localhost accepted notification for alice@localhost ($node)' '$E2E_SERVER_LOG'" 10
tap_ok $? "ejabberd receives an IQ result"
# mod_push:notify/7 publishes from the bare domain (From =
# jid:make(LServer)), as Prosody's mod_cloud_notify does.
grep -q "link: send <iq type='result' id='[^']*' from='push.localhost' to='localhost'/>" "$E2E_XPUSHD_LOG"
tap_ok $? "the publish came from the server's domain and was accepted"


# --- Carol: FCM
cnode=$(push_on carol fcm-http-v1 fcm-token-carol-0001)
e2e_client --jid bob@localhost -- send carol@localhost "hi carol" >/dev/null
tap_wait_for "grep -q 'messages:send' '$E2E_FCM_RECORD' 2>/dev/null" 15
tap_ok $? "Bob writes to Carol: the FCM mock receives messages:send"
r=$(grep 'messages:send' "$E2E_FCM_RECORD" | tail -1)
m=$(e2e_jq "$r" 'json.dumps(d["body"]["message"])')
tap_is "$(e2e_jq "$m" 'd["token"] + "|" + d["android"]["priority"] + "|" + d["data"]["body"] + "|" + d["data"]["sender"]')" \
	"fcm-token-carol-0001|HIGH|hi carol|bob@localhost" "a HIGH data message with body and sender"

# --- Dave: a VoIP token, and a call
push_on dave apns-binary-api "$dave_token" "$voip_token" >/dev/null
n=$(e2e_count "$E2E_APNS_RECORD")
e2e_client --jid bob@localhost -- propose dave@localhost call-42 >/dev/null
e2e_wait_count "$E2E_APNS_RECORD" $((n + 1)) 15
r=$(e2e_last "$E2E_APNS_RECORD")
# ejabberd's notification says nothing of the call: mod_push:make_summary
# returns no form for a message without a body, and nothing adds the
# tigase:push:jingle:0 element that the tests' Prosody module adds (as
# Tigase's server does).  mod_offline stores the bodiless proposal
# (need_to_store: store_empty_body defaults to unless_chat_state), so
# mod_push:offline_message publishes an empty notification, and xpushd
# wakes the app silently through the alert token, not the VoIP one.
tap_is "$(e2e_jq "$r" 'd["path"] + " " + d["headers"]["apns-push-type"] + " " + d["headers"]["apns-priority"]')" \
	"/3/device/$dave_token background 5" \
	"a Jingle call proposal through ejabberd becomes a background push to the alert token"
b=$(e2e_jq "$r" 'd["body"]')
tap_is "$(e2e_jq "$b" 'json.dumps(d, sort_keys=True)')" \
	'{"account": "dave@localhost", "aps": {"content-available": 1}}' \
	"content-available and the account, nothing else"

# --- Unregistering stops pushes, and ejabberd forgets the session
out=$(e2e_client --jid carol@localhost -- command push.localhost unregister-device \
	provider=fcm-http-v1 device-token="fcm-token-carol-0001")
tap_is "$(e2e_jq "$out" 'd["status"]')" "completed" "Carol unregisters her device"
n=$(grep -c 'messages:send' "$E2E_FCM_RECORD")
tap_is "$(sessions carol "$cnode")" "1" "ejabberd still holds Carol's push session"
e2e_client --jid bob@localhost -- send carol@localhost "are you there?" >/dev/null
disabled_by_ejabberd carol "$cnode"
tap_is "$(grep -c 'messages:send' "$E2E_FCM_RECORD")" "$n" "and no push reached FCM"

# --- A token the provider reports Unregistered
enode=$(push_on erin apns-binary-api "$dead_token")
e2e_client --jid bob@localhost -- send erin@localhost "hello erin" >/dev/null
tap_wait_for "[ \"\$(e2e_rows '$enode')\" = 0 ]" 20
tap_ok $? "APNs says Unregistered: xpushd deletes the registration"
disabled_by_ejabberd erin "$enode"

# --- A transient provider failure never costs the user a registration:
# ejabberd would drop the session at the first non-wait error.
anode=$(push_on admin apns-binary-api "$busy_token")
e2e_client --jid bob@localhost -- send admin@localhost "hello admin" >/dev/null
tap_wait_for "[ \$(e2e_push_waited '$anode') -ge 1 ]" 20
tap_ok $? "APNs 503: ejabberd gets a wait error and keeps push enabled"
tap_is "$(e2e_push_disabled "$anode")" "0" "ejabberd does not disable push"
tap_is "$(sessions admin "$anode")" "1" "ejabberd still holds the push session"
tap_is "$(e2e_rows "$anode")" "1" "the registration stays"

# --- The admin commands, through the admin's real client and ejabberd
p12=$(base64 -w 0 "$E2E_DIR/apns/client.p12")
out=$(e2e_client --jid admin@localhost -- command push.localhost set-apns-certificate \
	provider=apns-binary-api certificate="$p12" password=secret)
tap_is "$(e2e_jq "$out" 'd["status"] + " " + str("not-after" in d["fields"] and "subject" in d["fields"])')" \
	"completed True" "set-apns-certificate stores a good PKCS#12 and shows subject and expiry"
out=$(e2e_client --jid admin@localhost -- command push.localhost set-apns-certificate \
	provider=apns-binary-api certificate="$p12" password=wrong)
# ejabberd routes the IQ error unchanged, the application condition too.
tap_is "$(e2e_jq "$out" 'd["error_type"] + "/" + d["condition"] + "/" + d["app_condition"] + ": " + d["text"]')" \
	"modify/bad-request/bad-payload: certificate: the password does not open the PKCS#12 file" \
	"a wrong password is refused with an IQ error"
out=$(e2e_client --jid bob@localhost -- command push.localhost list-devices)
tap_is "$(e2e_jq "$out" 'd.get("condition")')" "forbidden" "list-devices is refused to a non-admin"
out=$(e2e_client --jid admin@localhost -- command push.localhost list-devices jid=alice@localhost)
tap_is "$(e2e_jq "$out" 'len(d["fields"]["_items"])')" "1" "list-devices shows Alice's registration to an admin"

# --- ejabberd restarts: xpushd connects again, and the push session that
# mod_push stored in Mnesia (the spool survives) still works.
ejabberd_stop_server
ejabberd_start_server >/dev/null 2>&1
tap_ok $? "ejabberd stops and starts again"
tap_wait_for "e2e_component_up" 60
tap_ok $? "xpushd is connected again as push.localhost"
n=$(e2e_count "$E2E_APNS_RECORD")
e2e_client --jid bob@localhost -- send alice@localhost "still there?" >/dev/null
e2e_wait_count "$E2E_APNS_RECORD" $((n + 1)) 15
tap_ok $? "Bob writes: Alice's phone gets the push after the restart"
r=$(e2e_last "$E2E_APNS_RECORD")
tap_is "$(e2e_jq "$r" 'd["path"] + " " + json.loads(d["body"])["body"]')" "/3/device/$apns_token still there?" \
	"to Alice's token, with the new message"

# --- Every publish answered, no non-wait error for a transient failure
out=$(e2e_client --jid admin@localhost -- command push.localhost get-statistics)
st=$(e2e_jq "$out" 'json.dumps(d["fields"])')
tap_is "$(e2e_jq "$st" 'int(d["publishes-received"]) - sum(int(d[k]) for k in ("publishes-ok", "publishes-unknown-node", "publishes-forbidden", "publishes-malformed", "publishes-wait", "publishes-failed"))')" \
	"$(e2e_jq "$st" 'int(d["in-flight"])')" "every publish received is answered or still in flight"
tap_is "$(e2e_jq "$st" 'd["publishes-failed"] + "/" + d["publishes-malformed"] + "/" + d["publishes-forbidden"]')" \
	"0/0/0" "no publish failed with a non-wait error for a transient reason"
tap_is "$(grep -c 'disabling push' "$E2E_SERVER_LOG")" "2" \
	"ejabberd disabled push only for the two dead registrations"

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
