#!/bin/sh
# Web Push end to end: Debian's Prosody with mod_cloud_notify, xpushd with
# a webpush block (webpush.so), the Web Push mock as the browser's push
# service (it holds the subscriptions' private keys, verifies VAPID and
# decrypts), real XMPP clients (slixmpp).  A browser client registers its
# PushSubscription (W3C Push API, toJSON(), as the mock hands it out) with
# register-device, enables push at its server with the node and secret
# (the <enable/> with a publish-options secret, as Converse.js sends it in
# src/plugins/push/utils.js, enablePushAppServer) and goes away; Bob
# writes; the mock decrypts the push.
# Then every failure answer, and subscriptions xpushd refuses.  TAP output.
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
		echo "# mock record:"; tail -5 "$E2E_WEBPUSH_RECORD" 2>/dev/null | sed 's/^/#   /'
	fi
	e2e_stop
}
trap cleanup EXIT
E2E_WEBPUSH=1
PROSODY_PUSH_MAX_ERRORS=1
e2e_start || { echo "Bail out! cannot set up the end-to-end world"; exit 1; }

count() { [ -f "$1" ] && wc -l <"$1" | tr -d ' ' || echo 0; }
jq_() {	# JSON EXPR: evaluate a Python expression on d = the JSON
	/usr/bin/python3 -c 'import json, sys
d = json.loads(sys.argv[1])
print(eval(sys.argv[2]))' "$1" "$2"
}
rows() {	# NODE: how many registrations the node has in PostgreSQL
	psql -X -A -t "$XPUSHD_TEST_DB_URI" -c "select count(*) from devices where node = '$1'"
}
# A browser's PushSubscription.toJSON(), from the mock (which keeps its
# private key); OPTS as /subscribe takes them (a scripted failure).
subscribe() {	# [OPTS]
	curl -sS --cacert "$E2E_WEBPUSH_CA" --noproxy '*' -d "${1:-{\}}" \
	    "$E2E_WEBPUSH_ORIGIN/subscribe"
}
# Registers SUB for JID at the webpush block and enables push at Prosody;
# prints the node.
register() {	# JID SUB
	_out=$(e2e_client --jid "$1" -- command push.localhost register-device \
	    provider=webpush device-token="$2")
	_node=$(e2e_field "$_out" node)
	e2e_client --jid "$1" -- enable-push push.localhost "$_node" \
	    "$(e2e_field "$_out" secret)" >/dev/null
	echo "$_node"
}
# The mock's last record for a subscription's push resource.
record_of() {	# SUB
	/usr/bin/python3 -c 'import json, sys
path = json.loads(sys.argv[1])["endpoint"].split("/", 3)[3]
last = None
for line in open(sys.argv[2]):
    r = json.loads(line)
    if r["path"] == "/" + path:
        last = r
print(json.dumps(last))' "$1" "$E2E_WEBPUSH_RECORD"
}
pushes_to() {	# SUB: how many pushes the mock got for it
	/usr/bin/python3 -c 'import json, sys
path = "/" + json.loads(sys.argv[1])["endpoint"].split("/", 3)[3]
print(sum(1 for l in open(sys.argv[2]) if json.loads(l)["path"] == path))' \
	    "$1" "$E2E_WEBPUSH_RECORD" 2>/dev/null || echo 0
}

# --- Alice's browser
sub=$(subscribe)
tap_is "$(jq_ "$sub" 'sorted(d) + sorted(d["keys"])')" \
	"['endpoint', 'expirationTime', 'keys', 'auth', 'p256dh']" \
	"the mock hands out subscriptions as PushSubscription.toJSON() does"
out=$(e2e_client --jid alice@localhost -- command push.localhost register-device \
	provider=webpush device-token="$sub")
node=$(e2e_field "$out" node)
[ -n "$node" ] && [ -n "$(e2e_field "$out" secret)" ]
tap_ok $? "Alice's browser registers its subscription at xpushd (node $node)"
tap_is "$(jq_ "$out" '"webpush" in d["form_fields"]["provider"]["options"]')" "True" \
	"the form offers the webpush provider"
out=$(e2e_client --jid alice@localhost -- enable-push push.localhost "$node" "$(e2e_field "$out" secret)")
tap_is "$out" '{"type": "result"}' "Alice enables push at her server and goes away"

e2e_client --jid bob@localhost -- send alice@localhost "hello alice" >/dev/null
tap_wait_for "[ \$(pushes_to '$sub') -ge 1 ]" 20
tap_ok $? "Bob writes: the push service receives a push"
r=$(record_of "$sub")
tap_is "$(jq_ "$r" 'd["status"]')" "201" "it accepts it: 201 Created (VAPID verified, decrypted)"
tap_is "$(jq_ "$r" 'd["plaintext"]["account"] + "|" + d["plaintext"]["sender"] + "|" + d["plaintext"]["body"]')" \
	"alice@localhost|bob@localhost|hello alice" \
	"the mock decrypts it with the browser's key to account, sender, body"
tap_is "$(jq_ "$r" 'sorted(set(d["plaintext"]) - {"account", "sender", "body", "unread-messages", "nickname"})')" "[]" \
	"and no key the APNs payload does not carry"
tap_is "$(jq_ "$r" 'd["headers"]["urgency"] + " " + d["headers"]["content-encoding"]')" \
	"high aes128gcm" "Urgency high, Content-Encoding aes128gcm"
tap_is "$(jq_ "$r" 'd["jwt"]["aud"] + " " + d["jwt"]["sub"]')" \
	"$E2E_WEBPUSH_ORIGIN mailto:ops@localhost" "the VAPID JWT's aud is the push service's origin, sub the contact"
tap_is "$(jq_ "$r" 'd["k"]')" "$("$top_builddir/xpushd-vapid" "$E2E_DIR/vapid.pem")" \
	"k is the key xpushd-vapid prints for the web app"
tap_wait_for "grep -q 'link: send <iq type=.result. id=' '$E2E_XPUSHD_LOG'" 5
tap_ok $? "Prosody receives an IQ result"

# --- Gone subscriptions: 410 and 404 delete the registration
for case in "carol 410" "dave 404"; do
	set -- $case
	s=$(subscribe "{\"fail\":$2}")
	n=$(register "$1@localhost" "$s")
	e2e_client --jid bob@localhost -- send "$1@localhost" "hello $1" >/dev/null
	tap_wait_for "[ \"\$(rows '$n')\" = 0 ]" 20
	tap_ok $? "the push service answers $2: xpushd deletes $1's registration"
	tap_is "$(jq_ "$(record_of "$s")" 'd["status"]')" "$2" "(the mock answered $2)"
done
tap_wait_for "grep -q 'Disabling push notifications for identifier' '$PROSODY_DIR/prosody.log'" 10
tap_ok $? "Prosody receives item-not-found and disables push for them"

# --- Transient answers keep the registration
s429=$(subscribe '{"fail":429,"retry_after":30}')
n429=$(register erin@localhost "$s429")
e2e_client --jid bob@localhost -- send erin@localhost "hello erin" >/dev/null
tap_wait_for "[ \$(pushes_to '$s429') -ge 1 ]" 20
tap_ok $? "a push service at its rate limit answers 429"
s500=$(subscribe '{"fail":500}')
n500=$(register admin@localhost "$s500")
s413=$(subscribe '{"fail":413}')
n413=$(register admin@localhost "$s413")
e2e_client --jid bob@localhost -- send admin@localhost "hello admin" >/dev/null
tap_wait_for "[ \$(pushes_to '$s500') -ge 1 ] && [ \$(pushes_to '$s413') -ge 1 ]" 20
tap_ok $? "a push service in trouble answers 500, one for a too big push 413"
tap_wait_for "grep -q 'refused a push for admin@localhost' '$E2E_XPUSHD_LOG'" 10
tap_ok $? "xpushd logs the 413 as a refused push"
tap_is "$(rows "$n429")/$(rows "$n500")/$(rows "$n413")" "1/1/1" \
	"429, 500 and 413 leave the registrations alone"

# --- Subscriptions xpushd refuses at registration
bad() {	# TOKEN WANT NAME
	_out=$(e2e_client --jid alice@localhost -- command push.localhost register-device \
	    provider=webpush device-token="$1")
	jq_ "$_out" 'd.get("text", "") + d.get("note", "") + str(d.get("notes", ""))' | grep -q "$2"
	tap_ok $? "$3 is refused: $(jq_ "$_out" 'd.get("text") or d.get("notes")')"
}
p256dh=$(jq_ "$sub" 'd["keys"]["p256dh"]')
auth=$(jq_ "$sub" 'd["keys"]["auth"]')
bad "{\"endpoint\":\"http://127.0.0.1/push/x\",\"keys\":{\"p256dh\":\"$p256dh\",\"auth\":\"$auth\"}}" \
	"https" "an http:// endpoint"
bad "{\"endpoint\":\"https://127.0.0.1/push/x\",\"keys\":{\"p256dh\":\"$auth\",\"auth\":\"$auth\"}}" \
	"p256dh has 16 bytes, not 65" "a p256dh that is no P-256 point"
bad "{\"endpoint\":\"https://127.0.0.1/push/x\",\"keys\":{\"p256dh\":\"$p256dh\"}}" \
	"keys.auth" "a subscription without auth"
bad "fcm-token-0001" "PushSubscription" "an FCM token sent to the webpush provider"
n=$(psql -X -A -t "$XPUSHD_TEST_DB_URI" -c "select count(*) from devices where provider = 'webpush'")
tap_is "$n" "4" "only the good subscriptions were stored (Alice, Erin, two of the admin's)"

kill -TERM "$E2E_XPUSHD_PID"
wait "$E2E_XPUSHD_PID"
tap_is "$?" "0" "xpushd stops cleanly"
if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$E2E_XPUSHD_LOG"; then
	tap_ok 1 "no sanitizer report"
	grep -A30 "ERROR: \|runtime error:" "$E2E_XPUSHD_LOG" | head -40 | sed 's/^/# /'
else
	tap_ok 0 "no sanitizer report"
fi
tap_done
