#!/bin/sh
# The component link against Debian's real Prosody, driven by a real client
# (slixmpp): disco#info, ping and version through Prosody; a wrong secret
# fixed with SIGHUP; Prosody stopped and started again.  TAP output.
. "$top_srcdir/test/lib/tap.sh"
. "$top_srcdir/test/lib/prosody.sh"

if ! prosody_available; then
	if [ -n "${XPUSHD_REQUIRE_ALL:-}" ]; then
		echo "Bail out! Prosody with mod_cloud_notify is not installed"
		exit 1
	fi
	echo "1..0 # SKIP Prosody with mod_cloud_notify is not installed"
	exit 0
fi

tmp=$(mktemp -d)
xpid=
cleanup() {
	[ -n "$xpid" ] && kill "$xpid" 2>/dev/null && wait "$xpid" 2>/dev/null
	prosody_stop
	if [ "$tap_failed" -gt 0 ] || [ -n "${XPUSHD_KEEP_LOGS:-}" ]; then
		echo "# xpushd log:"; sed 's/^/#   /' "$tmp/xpushd.log" | tail -60
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

prosody_start || { echo "Bail out! cannot start Prosody"; exit 1; }

client() {
	/usr/bin/python3 "$top_srcdir/test/lib/client.py" --port "$PROSODY_C2S_PORT" "$@"
}

write_conf() {	# SECRET
	cat >"$tmp/xpushd.conf" <<CONF
xmpp () {
    jid = 'push.localhost'
    port = $PROSODY_COMPONENT_PORT
    secret = '$1'
    'reconnect-max' = 2
}
database () { uri = 'postgresql:///unused'; migrations = '$top_srcdir/sql/migrations' }
'module-path' = '$top_builddir/test/plugins/.libs'
push () { 'fcm-http-v1' () { plugin = 'testprov'; features = [ 'urn:example:push:fcm' ] } }
CONF
}

start_xpushd() {
	"$top_builddir/xpushd" -f -d -c "$tmp/xpushd.conf" 2>>"$tmp/xpushd.log" &
	xpid=$!
}

# A wrong secret first.
write_conf wrong-secret
start_xpushd
tap_wait_for "grep -q 'not-authorized.*check xmpp.secret' '$tmp/xpushd.log'" 15
tap_ok $? "a wrong secret is logged as not-authorized, naming xmpp.secret"
tap_wait_for "[ \$(grep -c 'not-authorized' '$tmp/xpushd.log') -ge 2 ]" 15
tap_ok $? "and retried at the backoff cap"
kill -0 "$xpid"
tap_ok $? "xpushd keeps running"

write_conf "$PROSODY_SECRET"
kill -HUP "$xpid"
tap_wait_for prosody_component_up 15
tap_ok $? "the fixed secret and SIGHUP connect at once"

out=$(client disco-info push.localhost)
echo "$out" | grep -q '\["pubsub", "push", "xpushd"\]'
tap_ok $? "disco#info through Prosody: identity pubsub/push"
for f in urn:xmpp:push:0 http://jabber.org/protocol/commands jabber:x:data \
    http://jabber.org/protocol/pubsub#publish-options tigase:push:encrypt:0 \
    tigase:push:encrypt:aes-128-gcm tigase:push:priority:0 tigase:push:jingle:0 \
    urn:example:push:fcm; do
	echo "$out" | grep -q "\"$f\""
	tap_ok $? "disco#info feature $f"
done

out=$(client ping push.localhost)
echo "$out" | grep -q '"type": "result"'
tap_ok $? "ping through Prosody"

out=$(client version push.localhost)
tap_is "$out" '{"name": "xpushd", "version": "'"$(sed -n 's/^PACKAGE_VERSION = //p' "$top_builddir/Makefile")"'"}' \
	"version through Prosody"

out=$(client iq get push.localhost "<query xmlns='urn:example:unknown'/>")
echo "$out" | grep -q '"condition": "service-unavailable"'
tap_ok $? "an unknown payload: service-unavailable through Prosody"
echo "$out" | grep -q '"error_ns": "jabber:client"'
tap_ok $? "the error element arrives in the client's default namespace"

# A user's stanza with 40 attributes on one element, then one with a
# 9,000-byte attribute value, both well within the 64 kB max-stanza-size
# (issue 18: each closed the component stream with policy-violation,
# dropping every publish in flight).  Prosody passes both to the component
# unchanged (it limits the stanza's size, not its attributes), so they do
# reach xpushd: it answers service-unavailable, as for any unknown payload,
# and the component stream stays up.
# xpushd's own answers are told from Prosody's (which answers
# service-unavailable too when the component is away) by the link's
# debug line for what it sends.
mark=$(wc -l <"$tmp/xpushd.log")
answered() {
	tail -n +"$((mark + 1))" "$tmp/xpushd.log" |
	    grep -c 'link: send <iq.*service-unavailable'
}
attrs=$(i=0; while [ $i -lt 40 ]; do printf " a%d='x'" $i; i=$((i + 1)); done)
out=$(client iq get push.localhost "<query xmlns='urn:example:unknown'$attrs/>")
echo "$out" | grep -q '"condition": "service-unavailable"'
tap_ok $? "40 attributes: the client gets an error"
tap_is "$(answered)" 1 "and it is xpushd's: the stanza reached the component"
long=$(head -c 9000 /dev/zero | tr '\0' y)
out=$(client iq get push.localhost "<query xmlns='urn:example:unknown' x='$long'/>")
echo "$out" | grep -q '"condition": "service-unavailable"'
tap_ok $? "a 9,000-byte attribute: the client gets an error"
tap_is "$(answered)" 2 "and it is xpushd's: the stanza reached the component"
out=$(client ping push.localhost)
echo "$out" | grep -q '"type": "result"'
tap_ok $? "a ping right after still works"
tail -n +"$((mark + 1))" "$tmp/xpushd.log" | grep -q 'closing the stream with\|reconnecting to'
tap_ok $((!$?)) "the component stream was never closed"

# Prosody goes away and comes back.
prosody_stop_server
tap_wait_for "grep -q 'connection closed by the server\|server closed the stream' '$tmp/xpushd.log'" 10
tap_ok $? "xpushd notices Prosody going away"
prosody_start_server || echo "# prosody did not come back"
tap_wait_for prosody_component_up 20
tap_ok $? "xpushd reconnects when Prosody is back"
out=$(client ping push.localhost)
echo "$out" | grep -q '"type": "result"'
tap_ok $? "and answers again"

kill -TERM "$xpid"
wait "$xpid"
tap_is "$?" 0 "SIGTERM: xpushd exits 0"
xpid=
tap_done
