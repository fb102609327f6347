#!/bin/sh
# The Conversations family against xpushd in place of p2, end to end: the
# XMPP server of the e2e world (Prosody with mod_cloud_notify by default;
# E2E_SERVER=ejabberd runs it through ejabberd's mod_push, which
# p2_ejabberd_test.sh does), xpushd with a p2 () block, the FCM and APNs mocks, and a client that sends exactly the
# stanzas Conversations sends.  Nothing here reads the XMPP server's log:
# what happened is asked of xpushd (get-statistics), of PostgreSQL and of
# the mocks, so the scenario runs unchanged against any server.
#
# The stanzas, from Conversations (eu.siacs.conversations):
#  - generator/IqGenerator.pushTokenToAppServer: <command
#    node='register-push-fcm' action='execute'> with a type='submit' form
#    of untyped fields token, android-id and, for a channel, muc;
#  - PushManagementService.registerPushTokenOnServer: reads jid, node and
#    secret from the answer's form, then IqGenerator.enablePush: <enable
#    jid node> with a publish-options form holding the secret;
#  - IqGenerator.unregisterChannelOnAppServer: unregister-push-fcm with
#    channel and android-id;
#  - the FCM service compares data.account with
#    utils/CryptoHelper.getAccountFingerprint(account, androidId): SHA-1 of
#    the bare JID, a NUL byte and the android-id, lower-case hex (fp()
#    below computes it that way, independently of xpushd).
# register-push-apns is p2's APNs twin (p2 PushController.register) and
# gets what p2's apns/Notification.createAlert sends.
. "$top_srcdir/test/lib/tap.sh"
. "$top_srcdir/test/lib/e2e.sh"

if ! e2e_server_available || ! pg_available ||
    ! /usr/bin/python3 -c 'import slixmpp, h2, cryptography' 2>/dev/null; then
	if [ -n "${XPUSHD_REQUIRE_ALL:-}" ]; then
		echo "Bail out! needs $E2E_SERVER, PostgreSQL, python3-slixmpp, python3-h2"
		exit 1
	fi
	echo "1..0 # SKIP needs $E2E_SERVER, PostgreSQL, python3-slixmpp, python3-h2"
	exit 0
fi

cleanup() {
	if [ "$tap_failed" -gt 0 ]; then
		echo "# xpushd log:"; tail -40 "$E2E_XPUSHD_LOG" | sed 's/^/#   /'
		echo "# $E2E_SERVER log:"; tail -30 "$E2E_SERVER_LOG" | cut -c1-400 | sed 's/^/#   /'
	fi
	e2e_stop
}
trap cleanup EXIT
E2E_EXTRA_CONF="p2 () {
    fcm = 'fcm-http-v1'
    apns = 'apns-binary-api'
}"
export E2E_EXTRA_CONF
e2e_start || { echo "Bail out! cannot set up the end-to-end world"; exit 1; }
tap_diag "through $E2E_SERVER"

py() {	# EXPR ARG...: evaluate a Python expression on a = sys.argv[2:]
	/usr/bin/python3 -c 'import hashlib, json, sys
import xml.etree.ElementTree as ET
a = sys.argv[2:]
print(eval(sys.argv[1]))' "$@"
}
# CryptoHelper.getFingerprint(jid + "\00" + androidId): SHA-1, UTF-8, hex.
fp() {	# JID ANDROID_ID
	py 'hashlib.sha1((a[0] + "\0" + a[1]).encode("utf-8")).hexdigest()' "$1" "$2"
}
# The result form of a register-push-* answer: FIELD of the client's JSON.
form_field() {	# JSON FIELD
	py '[f.findtext("{jabber:x:data}value") for f in ET.fromstring(json.loads(a[0])["xml"]).iter("{jabber:x:data}field") if f.get("var") == a[1]][0]' "$1" "$2"
}
jq_() {	# JSON EXPR on d
	py 'eval(a[1], {"json": json}, {"d": json.loads(a[0])})' "$1" "$2"
}
# IqGenerator.pushTokenToAppServer, byte for byte but for the values.
register() {	# JID SERVICE TOKEN ANDROID_ID [MUC]
	_muc=
	[ -z "${5:-}" ] || _muc="<field var='muc'><value>$5</value></field>"
	e2e_client --jid "$1" -- iq set push.localhost \
	    "<command xmlns='http://jabber.org/protocol/commands' node='register-push-$2' action='execute'><x xmlns='jabber:x:data' type='submit'><field var='token'><value>$3</value></field><field var='android-id'><value>$4</value></field>$_muc</x></command>"
}
# IqGenerator.enablePush with the secret; the client then goes offline.
enable() {	# JID APPSERVER NODE SECRET
	e2e_client --jid "$1" -- iq set "$1" \
	    "<enable xmlns='urn:xmpp:push:0' jid='$2' node='$3'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>$4</value></field></x></enable>"
}
# IqGenerator.unregisterChannelOnAppServer (channel may be empty: then the
# field is left out, the form p2 reads for the whole device).
unregister() {	# JID ANDROID_ID [CHANNEL]
	_ch=
	[ -z "${3:-}" ] || _ch="<field var='channel'><value>$3</value></field>"
	e2e_client --jid "$1" -- iq set push.localhost \
	    "<command xmlns='http://jabber.org/protocol/commands' node='unregister-push-fcm' action='execute'><x xmlns='jabber:x:data' type='submit'>$_ch<field var='android-id'><value>$2</value></field></x></command>"
}
fcm_sends() {	# TOKEN: messages:send requests the FCM mock got for it
	[ -f "$E2E_FCM_RECORD" ] || { echo 0; return; }
	grep 'messages:send' "$E2E_FCM_RECORD" | grep -c "\"token\": \"$1\""
}
fcm_last() {	# TOKEN: the last message sent to it, as JSON
	grep 'messages:send' "$E2E_FCM_RECORD" | grep "\"token\": \"$1\"" | tail -1 |
	    py 'json.dumps(json.loads(sys.stdin.read())["body"]["message"])'
}
stat() {	# NAME: a get-statistics figure, asked of xpushd by its admin
	e2e_client --jid admin@localhost -- command push.localhost get-statistics |
	    py 'json.loads(sys.stdin.read())["fields"][a[0]]' "$1"
}
rows() {	# SQL WHERE: how many devices rows match
	psql -X -A -t "$XPUSHD_TEST_DB_URI" -c "select count(*) from devices where $1"
}

aid=a1b2c3d4e5f60718	# Alice's android-id (PhoneHelper.getAndroidId)

# --- The commands are offered
out=$(e2e_client --jid alice@localhost -- disco-items push.localhost http://jabber.org/protocol/commands)
tap_is "$(jq_ "$out" 'sorted(i[1] for i in d["items"] if "push-" in i[1])')" \
	"['register-push-apns', 'register-push-fcm', 'unregister-push-apns', 'unregister-push-fcm']" \
	"disco#items lists the p2 commands of both configured services"

# --- Alice (Conversations) registers her FCM token
out=$(register alice@localhost fcm fcm-alice-1 "$aid")
tap_is "$(jq_ "$out" 'd["type"]')" "result" "register-push-fcm in one step is answered with a result"
tap_is "$(py 'ET.fromstring(json.loads(a[0])["xml"]).find("{http://jabber.org/protocol/commands}command").get("status")' "$out")" \
	"completed" "... a completed command"
node=$(form_field "$out" node)
secret=$(form_field "$out" secret)
tap_is "$(form_field "$out" jid)" "push.localhost" "... whose form names the App Server's JID"
case "$node" in p2.*) tap_ok 0 "... a node ($node)" ;; *) tap_ok 1 "... a node ($node)" ;; esac
[ ${#secret} -ge 22 ]
tap_ok $? "... and a secret of at least 128 bits"
tap_is "$(rows "node = '$node' and owner = 'alice@localhost' and p2_device = '$(fp alice@localhost "$aid")'")" \
	"1" "the row holds the device fingerprint"

out=$(register alice@localhost fcm fcm-alice-1 "$aid")
tap_is "$(form_field "$out" node) $(form_field "$out" secret)" "$node $secret" \
	"the same device registering again gets the same node and secret"

out=$(enable alice@localhost push.localhost "$node" "$secret")
tap_is "$(jq_ "$out" 'd["type"]')" "result" "Alice enables push with the secret as publish-options, and goes away"

e2e_client --jid bob@localhost -- send alice@localhost "hello alice" >/dev/null
tap_wait_for "[ \$(fcm_sends fcm-alice-1) -ge 1 ]" 20
tap_ok $? "Bob writes: the FCM mock receives a push to Alice's token"
m=$(fcm_last fcm-alice-1)
tap_is "$(jq_ "$m" 'json.dumps(d["data"], sort_keys=True)')" \
	"{\"account\": \"$(fp alice@localhost "$aid")\"}" \
	"data is exactly {account: the fingerprint Conversations computes}"
tap_is "$(jq_ "$m" '"notification" in d')" "False" "a data message: no notification block"

# --- A new token for the same device
out=$(register alice@localhost fcm fcm-alice-2 "$aid")
tap_is "$(form_field "$out" node)" "$node" "a new token for the same device keeps the node"
tap_is "$(rows "node = '$node' and token = 'fcm-alice-2'")" "1" "... and the row takes the new token"
e2e_client --jid bob@localhost -- send alice@localhost "still there?" >/dev/null
tap_wait_for "[ \$(fcm_sends fcm-alice-2) -ge 1 ]" 20
tap_ok $? "the next push goes to the new token"

# --- A group chat registration (older Conversations: the muc field) of the
# same device: its own node, the same token.
room=room@conference.localhost
out=$(register alice@localhost fcm fcm-alice-2 "$aid" "$room")
chnode=$(form_field "$out" node)
tap_is "$(rows "node = '$chnode' and p2_channel = '$(fp "$room" "$aid")' and p2_muc = '$room'")" \
	"1" "register-push-fcm with muc stores the channel fingerprint"
tap_is "$(rows "owner = 'alice@localhost' and token = 'fcm-alice-2'")" "2" \
	"... beside the account's registration, with the same token"
enable alice@localhost push.localhost "$chnode" "$(form_field "$out" secret)" >/dev/null
n=$(fcm_sends fcm-alice-2)
e2e_client --jid bob@localhost -- send alice@localhost "hello again" >/dev/null
tap_wait_for "[ \$(fcm_sends fcm-alice-2) -ge $((n + 2)) ]" 20
tap_ok $? "a message reaches FCM through both registrations"
datas=$(grep 'messages:send' "$E2E_FCM_RECORD" | grep '"token": "fcm-alice-2"' | tail -2 |
    py 'sorted(json.dumps(json.loads(l)["body"]["message"]["data"], sort_keys=True) for l in sys.stdin)')
tap_is "$datas" \
	"$(py 'sorted(json.dumps(d, sort_keys=True) for d in ({"account": a[0]}, {"account": a[0], "channel": a[1]}))' \
	    "$(fp alice@localhost "$aid")" "$(fp "$room" "$aid")")" \
	"the channel's push carries account and channel"
out=$(unregister alice@localhost "$aid" "$(fp "$room" "$aid")")
tap_is "$(jq_ "$out" 'd["type"]')" "result" "unregister-push-fcm with the channel fingerprint (unregisterChannelOnAppServer)"
tap_is "$(rows "node = '$chnode'")|$(rows "node = '$node'")" "0|1" \
	"... removes that registration and keeps the account's"

# --- register-push-apns
ctok=$(printf 'c0%.0s' $(seq 32))
out=$(register carol@localhost apns "$ctok" 0123456789abcdef)
cnode=$(form_field "$out" node)
enable carol@localhost push.localhost "$cnode" "$(form_field "$out" secret)" >/dev/null
e2e_client --jid bob@localhost -- send carol@localhost "hello carol" >/dev/null
tap_wait_for "grep -q '/3/device/$ctok' '$E2E_APNS_RECORD' 2>/dev/null" 20
tap_ok $? "register-push-apns: a push reaches the APNs mock"
r=$(grep "/3/device/$ctok" "$E2E_APNS_RECORD" | tail -1)
tap_is "$(jq_ "$r" 'json.dumps(json.loads(d["body"]), sort_keys=True)')" \
	'{"aps": {"alert": {"title": "New message"}, "sound": "default"}}' \
	"the payload p2 sends (apns/Notification.createAlert)"
tap_is "$(jq_ "$r" 'd["headers"]["apns-push-type"] + " " + d["headers"]["apns-priority"] + " " + d["headers"]["apns-topic"]')" \
	"alert 10 com.example.app" "an alert with priority 10 to the block's topic"
# p2 (PushController.findDeviceId) takes device-id before android-id.
out=$(e2e_client --jid carol@localhost -- iq set push.localhost \
    "<command xmlns='http://jabber.org/protocol/commands' node='register-push-apns' action='execute'><x xmlns='jabber:x:data' type='submit'><field var='token'><value>$ctok</value></field><field var='device-id'><value>ios-device-1</value></field><field var='android-id'><value>0123456789abcdef</value></field></x></command>")
tap_is "$(rows "node = '$(form_field "$out" node)' and p2_device = '$(fp carol@localhost ios-device-1)'")" "1" \
	"device-id, when given, is the device id"

# --- A wrong secret
out=$(register dave@localhost fcm fcm-dave 1111222233334444)
dnode=$(form_field "$out" node)
forbidden=$(stat publishes-forbidden)
enable dave@localhost push.localhost "$dnode" "not-the-secret" >/dev/null
e2e_client --jid bob@localhost -- send dave@localhost "hello dave" >/dev/null
tap_wait_for "[ \$(stat publishes-forbidden) -gt $forbidden ]" 20
tap_ok $? "a publish with a wrong secret is refused (auth/forbidden)"
tap_is "$(fcm_sends fcm-dave)" "0" "... and no push goes out"

# --- Unregistering the device
out=$(unregister alice@localhost "$aid")
tap_is "$(jq_ "$out" 'd["type"]')" "result" "unregister-push-fcm with the android-id alone"
tap_is "$(rows "owner = 'alice@localhost'")" "0" "... removes the device's registrations"
unknown=$(stat publishes-unknown-node)
n=$(fcm_sends fcm-alice-2)
e2e_client --jid bob@localhost -- send alice@localhost "gone?" >/dev/null
tap_wait_for "[ \$(stat publishes-unknown-node) -gt $unknown ]" 20
tap_ok $? "the next publish to the node gets item-not-found"
tap_is "$(fcm_sends fcm-alice-2)" "$n" "... and no push goes out"
out=$(unregister alice@localhost "$aid")
tap_is "$(jq_ "$out" 'd["condition"]')" "item-not-found" "unregistering again: item-not-found"

# --- A dead token
out=$(register erin@localhost fcm unregistered-erin 5555666677778888)
enode=$(form_field "$out" node)
enable erin@localhost push.localhost "$enode" "$(form_field "$out" secret)" >/dev/null
unknown=$(stat publishes-unknown-node)
e2e_client --jid bob@localhost -- send erin@localhost "hello erin" >/dev/null
tap_wait_for "[ \"\$(rows \"node = '$enode'\")\" = 0 ]" 20
tap_ok $? "FCM says UNREGISTERED: xpushd forgets the registration"
tap_wait_for "[ \$(stat publishes-unknown-node) -gt $unknown ]" 20
tap_ok $? "... and answers the server item-not-found"

# --- Bad input
out=$(e2e_client --jid alice@localhost -- iq set push.localhost \
    "<command xmlns='http://jabber.org/protocol/commands' node='register-push-fcm' action='execute'><x xmlns='jabber:x:data' type='submit'><field var='token'><value>t</value></field></x></command>")
tap_is "$(jq_ "$out" 'd["condition"] + ": " + d["text"]')" \
	"bad-request: android-id: the device id (android-id or device-id) is required" \
	"a registration without a device id is refused, naming the field"
out=$(register alice@localhost fcm fcm-x "$aid" "room@conference.localhost/nick")
tap_is "$(jq_ "$out" 'd["condition"]')" "bad-request" "a full JID as muc is refused (p2: bad-request)"
out=$(register alice@localhost apns not-hex "$aid")
tap_is "$(jq_ "$out" 'd["condition"]')" "bad-request" "an APNs token that is not one is refused"

# --- A service that is not configured is not offered
sed -i "/apns = 'apns-binary-api'/d" "$E2E_DIR/xpushd.conf"
kill -HUP "$E2E_XPUSHD_PID"
items() {
	e2e_client --jid alice@localhost -- disco-items push.localhost http://jabber.org/protocol/commands |
	    py 'sorted(i[1] for i in json.loads(sys.stdin.read())["items"] if "push-" in i[1])'
}
tap_wait_for "[ \"\$(items)\" = \"['register-push-fcm', 'unregister-push-fcm']\" ]" 20
tap_ok $? "after a reload without p2.apns, only the FCM commands are listed"
out=$(register alice@localhost apns "$ctok" "$aid")
tap_is "$(jq_ "$out" 'd["condition"] + ": " + d["text"]')" \
	"item-not-found: this command is not offered: the service it registers for is not configured here" \
	"register-push-apns is refused, saying why"

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
