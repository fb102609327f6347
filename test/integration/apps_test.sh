#!/bin/sh
# Stork and Siskin, the Tigase apps, unmodified, through a real XMPP server
# (test/lib/e2e.sh: Prosody with mod_cloud_notify, or ejabberd with mod_push
# when E2E_SERVER=ejabberd, as apps_ejabberd_test.sh sets it; PostgreSQL,
# the APNs and FCM mocks, xpushd).  The deployment serves the ids the apps
# hard-code: 'fcm-xmpp-api' (Stork), written the way Tigase documents
# serving it through FCM HTTP v1, and 'tigase:messenger:apns:1' (Siskin) on
# the apns module.  The scenarios are in apps_run.py; this driver adds that
# xpushd stops cleanly and that the sanitizers found nothing.  TAP output.
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

# The fcm-xmpp-api block lists its own id among its features, as a
# configuration written for a server that announced only listed features
# would: the id stays out of register-device's features all the same.  A
# block switched off is not announced.
e2e_extra_providers() {
	cat <<CONF
    'fcm-xmpp-api' (class: tigase.push.fcm.FcmHttpV1Provider) {
        'service-account-file' = '$E2E_DIR/service-account.json'
        features = [ 'tigase:push:priority:0', 'fcm-xmpp-api' ]
        endpoint = 'https://127.0.0.1:$E2E_FCM_PORT'
        'ca-file' = '$E2E_DIR/fcm-tls.crt'
    }
    'tigase:messenger:apns:1' () {
        plugin = 'apns'
        endpoint = '127.0.0.1:$E2E_APNS_PORT'
        'ca-file' = '$E2E_DIR/apns/ca.pem'
        'cert-file' = '$E2E_DIR/apns/client.p12'
        'cert-password' = 'secret'
        'apns-topic' = 'com.example.app'
    }
    'tigase:messenger:apns:0' (active: false) {
        plugin = 'apns'
        'apns-topic' = 'com.example.app'
    }
CONF
}

state=
cleanup() {
	if [ "$tap_failed" -gt 0 ]; then
		echo "# xpushd log:"; tail -60 "$E2E_XPUSHD_LOG" | sed 's/^/#   /'
		[ -n "${E2E_SERVER_LOG:-}" ] && { echo "# $E2E_SERVER log:"
			grep -i "push\|error" "$E2E_SERVER_LOG" | tail -30 | cut -c1-400 | sed 's/^/#   /'; }
	fi
	[ -n "$state" ] && rm -f "$state"
	e2e_stop
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# A server disables push for a device at the first error that is not
# "wait" (ejabberd always does; Prosody with push_max_errors = 1).
PROSODY_PUSH_MAX_ERRORS=1
e2e_start || { echo "Bail out! cannot set up the end-to-end world"; exit 1; }

# The marker account of apps_run.py (no_publish_for) is one nobody else
# writes to: not an admin, whom xpushd's certificate warnings reach.
case "$E2E_SERVER" in
prosody)  prosody_as prosodyctl --config "$PROSODY_DIR/prosody.cfg.lua" \
	      register marker localhost pw >/dev/null 2>&1 ;;
ejabberd) ejabberd_ctl register marker localhost pw >/dev/null 2>&1 ;;
esac || { echo "Bail out! cannot create the marker account"; exit 1; }

state=$(mktemp)
APPS_TAP_STATE=$state XPUSHD_TEST_DB_URI=$XPUSHD_TEST_DB_URI \
    PYTHONPATH="$top_srcdir/test/lib${PYTHONPATH:+:$PYTHONPATH}" \
    /usr/bin/python3 "$top_srcdir/test/integration/apps_run.py"
read -r tap_n tap_failed <"$state" || { tap_n=0; tap_failed=1; }

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
