#!/bin/sh
# Monal and Quicksy (iOS, macOS) against xpushd in place of fpush, end to
# end: the XMPP server of test/lib/e2e.sh (Prosody with mod_cloud_notify,
# or what E2E_SERVER names), xpushd as its component, the APNs mock.
#
# The apps register nowhere.  Monal/Classes/XMPPIQ.m,
# setPushEnableWithNode, enables push at the user's own server (an IQ
# without a to attribute, XMPPIQ initWithType) with node = the APNs token
# as lower-case hex (HelperTools stringFromToken) and a publish-options
# form: FORM_TYPE (hidden) pubsub#publish-options and pushModule, the
# build's name (monalProdiOS, quicksyProdiOS, ... "-sandbox" appended for
# a sandbox build).  The server publishes to xpushd with that form; xpushd
# pushes what fpush-apns/src/push.rs (FpushApns::send) pushes: an alert
# with fixed title and body, mutable-content and sound default, priority
# 10, push type alert, to the topic of the module's block.  Monal's
# notification service extension (Monal/NotificationService/
# NotificationService.m, didReceiveNotificationRequest) runs on that push
# because of mutable-content and fetches the messages itself: the payload
# carries nothing else it needs.
#
# fpush's answers (fpush/src/xmpp/message_loop.rs, handle_push_result):
# an unknown module cancel/bad-request, a dead token (APNs 410)
# cancel/policy-violation.  The server disables push for the device at the
# first such error (Prosody with push_max_errors = 1, ejabberd always) and
# publishes no more.  What the server logged is read through server_error
# and server_disabled, the only server-specific lines.
# TAP output.
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

# The apps' APNs topics: their bundle ids (Monal/Monal.xcodeproj,
# PRODUCT_BUNDLE_IDENTIFIER of the Monal and Quicksy targets).
monal_topic=G7YU7X7KRJ.SworIM
quicksy_topic=org.monal-im.prod.ios.quicksy
E2E_APNS_TOPICS="$monal_topic $quicksy_topic"

# Two provider blocks serve fpush modules: Monal's (with the default
# module) and Quicksy's, each with its own topic.
e2e_extra_providers() {
	for b in monal quicksy; do
		if [ $b = monal ]; then
			topic=$monal_topic
			mods="'monalProdiOS', 'monalProdCatalyst'"
			def="'fpush-default' = 'monalProdiOS'"
		else
			topic=$quicksy_topic
			mods="'quicksyProdiOS', 'quicksyProdCatalyst'"
			def=
		fi
		cat <<CONF
    '$b' () {
        plugin = 'apns'
        endpoint = '127.0.0.1:$E2E_APNS_PORT'
        'ca-file' = '$E2E_DIR/apns/ca.pem'
        'cert-file' = '$E2E_DIR/apns/client.p12'
        'cert-password' = 'secret'
        'apns-topic' = '$topic'
        'collapse-id' = 'account'
        expiration = 60
        'fpush-modules' = [ $mods ]
        $def
    }
CONF
	done
}

# The server logged an error answer TYPE/COND whose text starts with TEXT
# (a grep pattern) for the device NODE.
server_error() {	# NODE TYPE COND TEXT
	case "$E2E_SERVER" in
	prosody)	# mod_cloud_notify.lua, handle_push_error
		grep -q "Got error <$2:$3:$4.*> for identifier 'push.localhost<$1'" "$E2E_SERVER_LOG" ;;
	ejabberd)	# mod_push.erl, notify/5 (HandleResponse): "TEXT (COND)"
			# from inspect_error, then "(TYPE)"
		grep -q "push.localhost rejected notification for [^ ]* ($1), disabling push: $4.*($3) ($2)" "$E2E_SERVER_LOG" ;;
	*)	return 1 ;;
	esac
}
# The server disabled push for the device NODE (test/lib/e2e.sh).
server_disabled() { [ "$(e2e_push_disabled "$1")" -gt 0 ]; }

cleanup() {
	if [ "$tap_failed" -gt 0 ]; then
		echo "# xpushd log:"; tail -40 "$E2E_XPUSHD_LOG" | sed 's/^/#   /'
		echo "# $E2E_SERVER log:"; grep -i "push\|error" "$E2E_SERVER_LOG" | tail -30 | cut -c1-400 | sed 's/^/#   /'
	fi
	e2e_stop
}
trap cleanup EXIT
PROSODY_PUSH_MAX_ERRORS=1
e2e_start || { echo "Bail out! cannot set up the end-to-end world"; exit 1; }

# The requests the mock recorded for a token (path /3/device/TOKEN).
pushes_to() { grep -c "\"/3/device/$1\"" "$E2E_APNS_RECORD" 2>/dev/null || true; }
last_to() { grep "\"/3/device/$1\"" "$E2E_APNS_RECORD" | tail -1; }
results() { grep -c "link: send <iq type=.result. id=" "$E2E_XPUSHD_LOG"; }
rows() { psql -X -A -t "$XPUSHD_TEST_DB_URI" -c "select count(*) from devices"; }

# Monal's enable, as XMPPIQ.m setPushEnableWithNode builds it.  Without a
# pushModule: the enable of a client that names none (fpush's default
# module, parse_token_and_module_id).
monal_enable() {	# JID TOKEN [PUSHMODULE]
	form=
	[ -n "${3:-}" ] && form="<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pushModule'><value>$3</value></field></x>"
	e2e_client --jid "$1" -- iq set - \
	    "<enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='$2'>$form</enable>"
}

hex() { printf "$1%.0s" $(seq 32); }	# 32 bytes as 64 hex digits
alice_token=$(hex a7)
carol_token=$(hex c5)
bob_token=$(hex b6)
dead_token=dead$(hex 00 | cut -c5-)

# --- Monal: Alice's phone enables push with monalProdiOS and goes away
out=$(monal_enable alice@localhost "$alice_token" monalProdiOS)
tap_is "$(e2e_jq "$out" 'd["type"]')" "result" "Monal's enable (node = token, pushModule monalProdiOS) is accepted by the server"
r0=$(results)
e2e_client --jid bob@localhost -- send alice@localhost "hello alice" >/dev/null
tap_wait_for "[ \$(pushes_to $alice_token) -ge 1 ]" 20
tap_ok $? "Bob writes: the APNs mock receives a push to Alice's token"
r=$(last_to "$alice_token")
tap_is "$(e2e_jq "$r" 'd["headers"]["apns-topic"]')" "$monal_topic" "to the topic of monalProdiOS's block"
tap_is "$(e2e_jq "$r" 'd["headers"]["apns-push-type"] + " " + d["headers"]["apns-priority"]')" "alert 10" \
	"push type alert, priority 10 (fpush: PushType::Alert, Priority::High)"
tap_is "$(e2e_jq "$r" 'json.loads(d["body"]) == {"aps": {"alert": {"title": "New Message", "body": "New Message?"}, "sound": "default", "mutable-content": 1}}')" \
	"True" "the payload is fpush's, exactly: fixed alert, sound default, mutable-content, nothing from the message"
tap_is "$(e2e_jq "$r" '"apns-collapse-id" in d["headers"]')" "False" \
	"no apns-collapse-id, whatever the block says"
tap_is "$(e2e_jq "$r" '2419200 - 600 < int(d["headers"]["apns-expiration"]) - int(__import__("time").time()) <= 2419200')" \
	"True" "apns-expiration four weeks from now (fpush's intent), not the block's 60 s"
tap_is "$(e2e_jq "$r" 'd["status"]')" "200" "the mock accepted it (client certificate checked)"
tap_wait_for "[ \$(results) -gt $r0 ]" 10
tap_ok $? "the server receives an IQ result"
tap_is "$(rows)" "0" "nothing is stored: fpush nodes are registration-less"

# --- Quicksy: another module, another block and topic
out=$(monal_enable carol@localhost "$carol_token" quicksyProdiOS)
tap_is "$(e2e_jq "$out" 'd["type"]')" "result" "Quicksy's enable (pushModule quicksyProdiOS) is accepted"
e2e_client --jid bob@localhost -- send carol@localhost "hi carol" >/dev/null
tap_wait_for "[ \$(pushes_to $carol_token) -ge 1 ]" 20
tap_ok $? "Bob writes to Carol: a push to Carol's token"
r=$(last_to "$carol_token")
tap_is "$(e2e_jq "$r" 'd["headers"]["apns-topic"] + " " + d["headers"]["apns-push-type"]')" \
	"$quicksy_topic alert" "to the topic of quicksyProdiOS's block"

# --- No pushModule: the default module, only for a token-shaped node
out=$(monal_enable bob@localhost "$bob_token")
tap_is "$(e2e_jq "$out" 'd["type"]')" "result" "an enable without publish-options"
e2e_client --jid carol@localhost -- send bob@localhost "hi bob" >/dev/null
tap_wait_for "[ \$(pushes_to $bob_token) -ge 1 ]" 20
tap_ok $? "a publish without pushModule goes to the default module (monalProdiOS)"
tap_is "$(e2e_jq "$(last_to "$bob_token")" 'd["headers"]["apns-topic"]')" "$monal_topic" \
	"with that module's topic"

# --- An unknown pushModule is refused, with fpush's cancel/bad-request
n=$(e2e_count "$E2E_APNS_RECORD")
monal_enable dave@localhost "$(hex d8)" monalBogus >/dev/null
e2e_client --jid bob@localhost -- send dave@localhost "hello dave" >/dev/null
tap_wait_for "server_error $(hex d8) cancel bad-request \"unknown pushModule 'monalBogus'\"" 15
tap_ok $? "an unknown pushModule: cancel/bad-request at the server, saying which"
tap_wait_for "server_disabled $(hex d8)" 10
tap_ok $? "and the server disables push for that device"

# --- A node that is not a token of the right shape is refused
monal_enable erin@localhost "not-a-device-token" monalProdiOS >/dev/null
e2e_client --jid bob@localhost -- send erin@localhost "hello erin" >/dev/null
tap_wait_for "server_error not-a-device-token cancel bad-request 'the node is not a device token for pushModule monalProdiOS'" 15
tap_ok $? "a node that is no APNs token: cancel/bad-request"
tap_is "$(e2e_count "$E2E_APNS_RECORD")" "$n" "neither reached APNs"

# --- A dead token: cancel/policy-violation, nothing deleted; the server
# disables push for it and publishes no more
monal_enable admin@localhost "$dead_token" monalProdCatalyst >/dev/null
e2e_client --jid bob@localhost -- send admin@localhost "hello admin" >/dev/null
tap_wait_for "[ \$(pushes_to $dead_token) -ge 1 ]" 20
tap_ok $? "a push to a token APNs calls Unregistered (410)"
tap_wait_for "server_error $dead_token cancel policy-violation ''" 15
tap_ok $? "the server gets cancel/policy-violation, as from fpush"
tap_wait_for "server_disabled $dead_token" 10
tap_ok $? "and disables push for that device"
tap_is "$(rows)" "0" "nothing stored, nothing deleted"
e2e_client --jid bob@localhost -- send admin@localhost "still there?" >/dev/null
a=$(pushes_to "$alice_token")
e2e_client --jid bob@localhost -- send alice@localhost "again" >/dev/null
tap_wait_for "[ \$(pushes_to $alice_token) -gt $a ]" 20
tap_ok $? "a later message to Alice is pushed"
tap_is "$(pushes_to "$dead_token")" "1" "while the disabled dead token was not pushed to again"

# --- Statistics: refusals count as malformed publishes, the dead token
# as an unknown node; no registration was removed
out=$(e2e_client --jid admin@localhost -- command push.localhost get-statistics)
st=$(e2e_jq "$out" 'json.dumps(d["fields"])')
tap_is "$(e2e_jq "$st" 'd["publishes-malformed"] + " " + d["publishes-unknown-node"] + " " + d["registrations-removed"]')" "2 1 0" \
	"statistics: two refused publishes (module, node), one dead token, no registration removed"

# --- The mode is off without fpush-modules: pushModule finds no node
sed -e "/'fpush-modules'/d" -e "/'fpush-default'/d" "$E2E_DIR/xpushd.conf" >"$E2E_DIR/off.conf" &&
	cat "$E2E_DIR/off.conf" >"$E2E_DIR/xpushd.conf"
kill -HUP "$E2E_XPUSHD_PID"
tap_wait_for "grep -q 'configuration reloaded' '$E2E_XPUSHD_LOG'" 15
tap_ok $? "xpushd reloads a configuration whose blocks serve no fpush module"
e2e_client --jid bob@localhost -- send carol@localhost "hello again" >/dev/null
tap_wait_for "server_error $carol_token cancel item-not-found ''" 15
tap_ok $? "with the mode off, Quicksy's node is unknown: cancel/item-not-found"
tap_is "$(pushes_to "$carol_token")" "1" "and nothing reaches APNs"

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
