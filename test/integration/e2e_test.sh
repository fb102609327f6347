#!/bin/sh
# End to end, the way users meet xpushd: Debian's Prosody with
# mod_cloud_notify, xpushd as its component, a throwaway PostgreSQL, the
# APNs and FCM mocks, and real XMPP clients (slixmpp).  Alice's phone
# registers at xpushd, enables push at her server and goes away; Bob writes;
# the mock receives the push; Prosody receives the result.  TAP output.
. "$top_srcdir/test/lib/tap.sh"
. "$top_srcdir/test/lib/e2e.sh"

if ! prosody_available || ! pg_available ||
    ! /usr/bin/python3 -c 'import slixmpp, h2, cryptography' 2>/dev/null; then
	if [ -n "${XPUSHD_REQUIRE_ALL:-}" ]; then
		echo "Bail out! needs Prosody, PostgreSQL, python3-slixmpp, python3-h2"
		exit 1
	fi
	echo "1..0 # SKIP needs Prosody, PostgreSQL, python3-slixmpp, python3-h2"
	exit 0
fi

cleanup() {
	if [ "$tap_failed" -gt 0 ]; then
		echo "# xpushd log:"; tail -40 "$E2E_XPUSHD_LOG" | sed 's/^/#   /'
		echo "# prosody log:"; grep -i "push\|error" "$PROSODY_DIR/prosody.log" | tail -30 | sed 's/^/#   /'
	fi
	e2e_stop
}
trap cleanup EXIT
PROSODY_PUSH_MAX_ERRORS=1
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
prosody_saw() { grep -c "$1" "$PROSODY_DIR/prosody.log"; }

apns_token=$(printf 'a1%.0s' $(seq 32))
voip_token=$(printf 'c3%.0s' $(seq 32))
dead_token=dead$(printf '00%.0s' $(seq 30))
busy_token=5030$(printf '11%.0s' $(seq 30))

# --- Alice: APNs
out=$(e2e_client --jid alice@localhost -- command push.localhost register-device \
	provider=apns-binary-api device-token="$apns_token")
node=$(e2e_field "$out" node)
secret=$(e2e_field "$out" secret)
[ -n "$node" ] && [ -n "$secret" ]
tap_ok $? "Alice's phone registers at xpushd through Prosody (node $node)"
tap_is "$(jq_ "$out" 'd["form_fields"]["provider"]["options"]')" "['apns-binary-api', 'fcm-http-v1']" \
	"the form offers the configured providers"
out=$(e2e_client --jid alice@localhost -- enable-push push.localhost "$node" "$secret")
tap_is "$out" '{"type": "result"}' "Alice enables push at her server with node and secret, and goes away"

e2e_client --jid bob@localhost -- send alice@localhost "hello alice" >/dev/null
wait_count "$E2E_APNS_RECORD" 1 15
tap_ok $? "Bob writes: the APNs mock receives a push"
r=$(last "$E2E_APNS_RECORD")
tap_is "$(jq_ "$r" 'd["path"]')" "/3/device/$apns_token" "to Alice's device token"
tap_is "$(jq_ "$r" 'd["headers"]["apns-topic"]')" "com.example.app" "apns-topic"
tap_is "$(jq_ "$r" 'd["headers"]["apns-push-type"] + " " + d["headers"]["apns-priority"]')" "alert 10" \
	"an alert with priority 10"
b=$(jq_ "$r" 'd["body"]')
tap_is "$(jq_ "$b" 'd["account"] + "|" + d["sender"] + "|" + d["body"]')" "alice@localhost|bob@localhost|hello alice" \
	"payload keys account, sender, body as Tigase apps read them"
tap_is "$(jq_ "$b" 'd["aps"]["mutable-content"]')" "1" "mutable-content for an alert"
tap_is "$(jq_ "$r" 'd["status"]')" "200" "the mock accepted it (client certificate checked)"
tap_wait_for "grep -q 'link: send <iq type=.result. id=' '$E2E_XPUSHD_LOG'" 5
tap_ok $? "Prosody receives an IQ result"

# --- Carol: FCM
out=$(e2e_client --jid carol@localhost -- command push.localhost register-device \
	provider=fcm-http-v1 device-token="fcm-token-carol-0001")
cnode=$(e2e_field "$out" node)
csecret=$(e2e_field "$out" secret)
e2e_client --jid carol@localhost -- enable-push push.localhost "$cnode" "$csecret" >/dev/null
e2e_client --jid bob@localhost -- send carol@localhost "hi carol" >/dev/null
tap_wait_for "grep -q 'messages:send' '$E2E_FCM_RECORD' 2>/dev/null" 15
tap_ok $? "Bob writes to Carol: the FCM mock receives messages:send"
r=$(grep 'messages:send' "$E2E_FCM_RECORD" | tail -1)
tap_is "$(jq_ "$r" 'd["path"]')" "/v1/projects/xpushd-demo/messages:send" "the project from the service account"
m=$(jq_ "$r" 'json.dumps(d["body"]["message"])')
tap_is "$(jq_ "$m" 'd["token"] + "|" + d["android"]["priority"] + "|" + d["data"]["body"] + "|" + d["data"]["sender"]')" \
	"fcm-token-carol-0001|HIGH|hi carol|bob@localhost" "a HIGH data message with body and sender"
grep -q '"path": "/token"' "$E2E_FCM_RECORD"
tap_ok $? "after an OAuth2 token exchange with a signed JWT"

# --- Dave: a VoIP token, and a call
out=$(e2e_client --jid dave@localhost -- command push.localhost register-device \
	provider=apns-binary-api device-token="$(printf 'd4%.0s' $(seq 32))" \
	device-second-token="$voip_token")
dnode=$(e2e_field "$out" node)
dsecret=$(e2e_field "$out" secret)
e2e_client --jid dave@localhost -- enable-push push.localhost "$dnode" "$dsecret" >/dev/null
n=$(count "$E2E_APNS_RECORD")
e2e_client --jid bob@localhost -- propose dave@localhost call-42 >/dev/null
wait_count "$E2E_APNS_RECORD" $((n + 1)) 15
r=$(last "$E2E_APNS_RECORD")
tap_is "$(jq_ "$r" 'd["path"] + " " + d["headers"]["apns-push-type"] + " " + d["headers"]["apns-topic"]')" \
	"/3/device/$voip_token voip com.example.app.voip" \
	"a Jingle call proposal becomes a VoIP push to the PushKit token"

# --- Unregistering stops pushes
out=$(e2e_client --jid carol@localhost -- command push.localhost unregister-device \
	provider=fcm-http-v1 device-token="fcm-token-carol-0001")
tap_is "$(jq_ "$out" 'd["status"]')" "completed" "Carol unregisters her device"
n=$(grep -c 'messages:send' "$E2E_FCM_RECORD")
e2e_client --jid bob@localhost -- send carol@localhost "are you there?" >/dev/null
tap_wait_for "grep -q 'Got error <cancel:item-not-found' '$PROSODY_DIR/prosody.log'" 10
tap_ok $? "the next publish gets item-not-found at Prosody"
tap_is "$(grep -c 'messages:send' "$E2E_FCM_RECORD")" "$n" "and no push reaches FCM"

# --- A token the provider reports Unregistered
out=$(e2e_client --jid erin@localhost -- command push.localhost register-device \
	provider=apns-binary-api device-token="$dead_token")
enode=$(e2e_field "$out" node)
e2e_client --jid erin@localhost -- enable-push push.localhost "$enode" "$(e2e_field "$out" secret)" >/dev/null
e2e_client --jid bob@localhost -- send erin@localhost "hello erin" >/dev/null
rows() {	# NODE: how many registrations the node has in PostgreSQL
	psql -X -A -t "$XPUSHD_TEST_DB_URI" -c "select count(*) from devices where node = '$1'"
}
tap_wait_for "[ \"\$(rows '$enode')\" = 0 ]" 20
tap_ok $? "APNs says Unregistered: xpushd deletes the registration"
tap_wait_for "grep -q 'Disabling push notifications for identifier' '$PROSODY_DIR/prosody.log'" 10
tap_ok $? "Prosody receives item-not-found and disables push for it"
tap_is "$(rows "$enode")" "0" "the row is gone from PostgreSQL"

# --- A transient provider failure never costs the user a registration
out=$(e2e_client --jid admin@localhost -- command push.localhost register-device \
	provider=apns-binary-api device-token="$busy_token")
anode=$(e2e_field "$out" node)
e2e_client --jid admin@localhost -- enable-push push.localhost "$anode" "$(e2e_field "$out" secret)" >/dev/null
before=$(prosody_saw "NOT increasing error count")
e2e_client --jid bob@localhost -- send admin@localhost "hello admin" >/dev/null
tap_wait_for "[ \$(prosody_saw 'NOT increasing error count') -gt $before ]" 20
tap_ok $? "APNs 503: Prosody gets a wait error and does not count it"
tap_is "$(rows "$anode")" "1" "the registration stays"

# --- Certificates and the admin commands, through the admin's real client
p12=$(base64 -w 0 "$E2E_DIR/apns/client.p12")
out=$(e2e_client --jid admin@localhost -- command push.localhost set-apns-certificate \
	provider=apns-binary-api certificate="$p12" password=secret)
tap_is "$(jq_ "$out" 'd["status"] + " " + str("not-after" in d["fields"] and "subject" in d["fields"])')" \
	"completed True" "set-apns-certificate stores a good PKCS#12 and shows subject and expiry"
n=$(psql -X -A -t "$XPUSHD_TEST_DB_URI" -c "select count(*) from certificates where provider = 'apns-binary-api' and pkcs12 is not null")
tap_is "$n" "1" "the certificate is in PostgreSQL"
out=$(e2e_client --jid admin@localhost -- command push.localhost set-apns-certificate \
	provider=apns-binary-api certificate="$p12" password=wrong)
# A refusal is an IQ error (XEP-0050 section 4.6: modify/bad-request with
# bad-payload), not a completed command with an error note.
tap_is "$(jq_ "$out" 'd["error_type"] + "/" + d["condition"] + "/" + d["app_condition"] + ": " + d["text"]')" \
	"modify/bad-request/bad-payload: certificate: the password does not open the PKCS#12 file" \
	"a wrong password is refused with an IQ error"
out=$(e2e_client --jid admin@localhost -- command push.localhost set-apns-certificate \
	provider=apns-binary-api certificate="$(base64 -w 0 "$E2E_DIR/apns/expired.p12")" password=secret)
jq_ "$out" 'd["text"]' | grep -q "^certificate: .*expired on 2021"
tap_ok $? "an expired certificate is refused"
out=$(e2e_client --jid admin@localhost -- command push.localhost set-apns-certificate \
	provider=apns-binary-api certificate="bm90IGEgY2VydGlmaWNhdGU=" password=x)
jq_ "$out" 'd["condition"]' | grep -q "bad-request"
tap_ok $? "garbage is refused"
out=$(e2e_client --jid admin@localhost -- command push.localhost set-apns-certificate \
	provider=fcm-http-v1 certificate="$p12" password=secret)
jq_ "$out" 'd["text"]' | grep -q "^provider: .*not an APNs provider"
tap_ok $? "only APNs providers take certificates"
n=$(psql -X -A -t "$XPUSHD_TEST_DB_URI" -c "select count(*) from certificates")
tap_is "$n" "1" "bad input stored nothing"
out=$(e2e_client --jid bob@localhost -- command push.localhost set-apns-certificate)
tap_is "$(jq_ "$out" 'd.get("condition")')" "forbidden" "set-apns-certificate is refused to a non-admin"
out=$(e2e_client --jid bob@localhost -- command push.localhost list-devices)
tap_is "$(jq_ "$out" 'd.get("condition")')" "forbidden" "list-devices is refused to a non-admin"
out=$(e2e_client --jid admin@localhost -- command push.localhost list-devices jid=alice@localhost)
tap_is "$(jq_ "$out" 'len(d["fields"]["_items"])')" "1" "list-devices shows Alice's registration to an admin"

# --- Every publish answered, no non-wait error for a transient failure
out=$(e2e_client --jid admin@localhost -- command push.localhost get-statistics)
st=$(jq_ "$out" 'json.dumps(d["fields"])')
tap_is "$(jq_ "$st" 'int(d["publishes-received"]) - sum(int(d[k]) for k in ("publishes-ok", "publishes-unknown-node", "publishes-forbidden", "publishes-malformed", "publishes-wait", "publishes-failed"))')" \
	"$(jq_ "$st" 'int(d["in-flight"])')" "every publish received is answered or still in flight"
tap_is "$(jq_ "$st" 'd["publishes-failed"] + "/" + d["publishes-malformed"] + "/" + d["publishes-forbidden"]')" \
	"0/0/0" "no publish failed with a non-wait error for a transient reason"
grep -q "Got error <\(cancel\|modify\|auth\):" "$PROSODY_DIR/prosody.log" &&
	! grep "Got error <\(cancel\|modify\|auth\):" "$PROSODY_DIR/prosody.log" | grep -vq "item-not-found"
tap_ok $? "the only non-wait errors Prosody saw were item-not-found for dead registrations"

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
