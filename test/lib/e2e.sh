# test/lib/e2e.sh: the whole world on loopback for end-to-end runs (the
# scenario tests and scripts/demo.sh).  Source it with top_srcdir and
# top_builddir set, then:
#
#	e2e_start	PostgreSQL, the XMPP server (Prosody with
#			mod_cloud_notify, or ejabberd with mod_push), the APNs
#			mock (client certificates checked), the FCM mock (OAuth
#			JWTs checked), xpushd connected as push.localhost
#	e2e_client ARGS	test/lib/client.py against the test server
#	e2e_component_up	push.localhost answers a ping through the server
#	e2e_server_available	the chosen server is installed
#	e2e_server_log	prints the server's log file name (diagnostics)
#	e2e_stop	stops everything it started, by PID
#	e2e_count FILE		lines in a mock's record (0 if none yet)
#	e2e_last FILE		the last request a mock recorded (JSON)
#	e2e_wait_count FILE N SECONDS	waits until the record has N lines
#				(uses tap_wait_for: source tap.sh)
#	e2e_jq JSON EXPR	a Python expression on d = the parsed JSON
#	e2e_rows NODE		the node's registrations in PostgreSQL
#	e2e_push_disabled NODE	how often the server disabled push for the
#				node after an error reply (Prosody only
#				after push_max_errors errors: set
#				PROSODY_PUSH_MAX_ERRORS=1 to see it at once;
#				ejabberd at the first non-wait error)
#	e2e_push_waited NODE	how often the server took a wait error for
#				the node without counting it
#
# E2E_SERVER chooses the server: prosody (the default) or ejabberd
# (test/lib/prosody.sh, test/lib/ejabberd.sh).  Set it before e2e_start.
# E2E_EXTRA_CONF, when set, is appended to xpushd's configuration.
# Exports E2E_DIR, E2E_APNS_RECORD, E2E_FCM_RECORD, E2E_XPUSHD_LOG, and for
# either server E2E_SERVER, E2E_C2S_PORT, E2E_COMPONENT_PORT, E2E_SECRET,
# E2E_SERVER_LOG.  The server's own variables (PROSODY_DIR ... or
# EJABBERD_DIR ...) stay set too.
# A test that needs more provider blocks defines e2e_extra_providers, a
# function that prints them; its output goes into the push () block after
# the two standard providers, and it may use $E2E_DIR, $E2E_APNS_PORT and
# $E2E_FCM_PORT.
# E2E_APNS_TOPICS: more apns-topic values the APNs mock allows
# (space-separated), set before e2e_start.
. "$top_srcdir/test/lib/pg.sh"
. "$top_srcdir/test/lib/prosody.sh"
. "$top_srcdir/test/lib/ejabberd.sh"

E2E_SERVER=${E2E_SERVER:-prosody}

e2e_server_available() {
	case "$E2E_SERVER" in
	prosody) prosody_available ;;
	ejabberd) ejabberd_available ;;
	*) echo "# E2E_SERVER=$E2E_SERVER: not prosody or ejabberd" >&2; return 1 ;;
	esac
}

e2e_server_log() {
	case "$E2E_SERVER" in
	prosody) echo "${PROSODY_DIR:-}/prosody.log" ;;
	ejabberd) echo "${EJABBERD_LOG:-}" ;;
	esac
}

e2e_component_up() {
	case "$E2E_SERVER" in
	prosody) prosody_component_up ;;
	ejabberd) ejabberd_component_up ;;
	*) return 1 ;;
	esac
}

# Start the chosen server and export its ports and secret as E2E_*.
e2e_start_server() {
	case "$E2E_SERVER" in
	prosody)
		prosody_start || { echo "# Prosody did not start"; return 1; }
		E2E_C2S_PORT=$PROSODY_C2S_PORT
		E2E_COMPONENT_PORT=$PROSODY_COMPONENT_PORT
		E2E_SECRET=$PROSODY_SECRET
		;;
	ejabberd)
		ejabberd_start || { echo "# ejabberd did not start"; return 1; }
		E2E_C2S_PORT=$EJABBERD_C2S_PORT
		E2E_COMPONENT_PORT=$EJABBERD_COMPONENT_PORT
		E2E_SECRET=$EJABBERD_SECRET
		;;
	*)
		echo "# E2E_SERVER=$E2E_SERVER: not prosody or ejabberd"
		return 1
		;;
	esac
	E2E_SERVER_LOG=$(e2e_server_log)
	export E2E_SERVER E2E_C2S_PORT E2E_COMPONENT_PORT E2E_SECRET E2E_SERVER_LOG
}

e2e_free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

e2e_wait_file() {	# FILE SECONDS
	_i=0
	while [ ! -s "$1" ] && [ $_i -lt $(($2 * 10)) ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	[ -s "$1" ]
}

e2e_client() {
	/usr/bin/python3 "$top_srcdir/test/lib/client.py" --port "${E2E_C2S_PORT:-$PROSODY_C2S_PORT}" "$@"
}

e2e_start() {
	E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/xpushd-e2e.XXXXXX")
	E2E_APNS_RECORD=$E2E_DIR/apns.jsonl
	E2E_FCM_RECORD=$E2E_DIR/fcm.jsonl
	E2E_XPUSHD_LOG=$E2E_DIR/xpushd.log
	export E2E_DIR E2E_APNS_RECORD E2E_FCM_RECORD E2E_XPUSHD_LOG

	# Keys and certificates, made fresh for this run.
	sh "$top_srcdir/test/lib/apns_certs.sh" "$E2E_DIR/apns" >/dev/null 2>&1 ||
		{ echo "# cannot make the APNs test certificates"; return 1; }
	openssl genrsa -out "$E2E_DIR/sa.key" 2048 2>/dev/null &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$E2E_DIR/fcm-tls.key" -out "$E2E_DIR/fcm-tls.crt" \
	    -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	    2>/dev/null || { echo "# openssl failed"; return 1; }
	E2E_FCM_PORT=$(e2e_free_port)
	/usr/bin/python3 - "$E2E_DIR" "$E2E_FCM_PORT" <<'PY'
import json, sys
d, port = sys.argv[1], sys.argv[2]
with open(d + "/sa.key") as f:
    key = f.read()
json.dump({"type": "service_account", "project_id": "xpushd-demo",
           "private_key_id": "k1", "private_key": key,
           "client_email": "xpushd@xpushd-demo.iam.gserviceaccount.com",
           "token_uri": "https://127.0.0.1:%s/token" % port},
          open(d + "/service-account.json", "w"))
PY

	_topics=
	for _t in ${E2E_APNS_TOPICS:-}; do _topics="$_topics --topic $_t"; done
	"$top_builddir/test/mock/apns_mock" --cert "$E2E_DIR/apns/server.pem" \
	    --key "$E2E_DIR/apns/server.key" --client-ca "$E2E_DIR/apns/ca.pem" \
	    --topic com.example.app $_topics --port-file "$E2E_DIR/apns.port" \
	    --record "$E2E_APNS_RECORD" --quiet 2>"$E2E_DIR/apns_mock.log" &
	E2E_APNS_PID=$!
	/usr/bin/python3 "$top_srcdir/test/mock/fcm_mock.py" \
	    --cert "$E2E_DIR/fcm-tls.crt" --key "$E2E_DIR/fcm-tls.key" \
	    --service-account "$E2E_DIR/service-account.json" \
	    --port "$E2E_FCM_PORT" --port-file "$E2E_DIR/fcm.port" \
	    --record "$E2E_FCM_RECORD" 2>"$E2E_DIR/fcm_mock.log" &
	E2E_FCM_PID=$!
	E2E_WEBPUSH_BLOCK=
	if [ -n "${E2E_WEBPUSH:-}" ]; then
		e2e_webpush_start || return 1
	fi
	e2e_wait_file "$E2E_DIR/apns.port" 10 || { echo "# the APNs mock did not start"; return 1; }
	e2e_wait_file "$E2E_DIR/fcm.port" 10 || { echo "# the FCM mock did not start"; return 1; }
	E2E_APNS_PORT=$(cat "$E2E_DIR/apns.port")

	pg_start >"$E2E_DIR/pg.log" 2>&1 || { echo "# PostgreSQL did not start"; cat "$E2E_DIR/pg.log"; return 1; }
	PROSODY_PUSH_MAX_ERRORS=${PROSODY_PUSH_MAX_ERRORS:-16}
	export PROSODY_PUSH_MAX_ERRORS
	e2e_start_server || return 1

	cat >"$E2E_DIR/xpushd.conf" <<CONF
# Written by test/lib/e2e.sh for one run.
admins = [ 'admin@localhost' ]
'module-path' = '$top_builddir/plugins/.libs'
'low-priority-window' = 1
xmpp () {
    jid = 'push.localhost'
    port = $E2E_COMPONENT_PORT
    secret = '$E2E_SECRET'
}
database () {
    uri = '$XPUSHD_TEST_DB_URI'
    migrations = '$top_srcdir/sql/migrations'
}
push () {
$E2E_WEBPUSH_BLOCK
    'apns-binary-api' () {
        endpoint = '127.0.0.1:$E2E_APNS_PORT'
        'ca-file' = '$E2E_DIR/apns/ca.pem'
        'cert-file' = '$E2E_DIR/apns/client.p12'
        'cert-password' = 'secret'
        'apns-topic' = 'com.example.app'
    }
    'fcm-http-v1' () {
        'service-account-file' = '$E2E_DIR/service-account.json'
        endpoint = 'https://127.0.0.1:$E2E_FCM_PORT'
        'ca-file' = '$E2E_DIR/fcm-tls.crt'
    }
$(command -v e2e_extra_providers >/dev/null && e2e_extra_providers)
}
CONF
	# A scenario's own statements (e.g. p2 () { ... }), appended.
	[ -z "${E2E_EXTRA_CONF:-}" ] ||
		printf '%s\n' "$E2E_EXTRA_CONF" >>"$E2E_DIR/xpushd.conf"
	"$top_builddir/xpushd" --migrate -c "$E2E_DIR/xpushd.conf" \
	    >"$E2E_DIR/migrate.log" 2>&1 || { cat "$E2E_DIR/migrate.log"; return 1; }
	"$top_builddir/xpushd" -f -d -c "$E2E_DIR/xpushd.conf" 2>"$E2E_XPUSHD_LOG" &
	E2E_XPUSHD_PID=$!
	_i=0
	while ! e2e_component_up; do
		_i=$((_i + 1))
		if [ $_i -gt 300 ] || ! kill -0 "$E2E_XPUSHD_PID" 2>/dev/null; then
			echo "# xpushd did not connect:"; tail -20 "$E2E_XPUSHD_LOG"
			echo "# $E2E_SERVER log:"; tail -20 "$E2E_SERVER_LOG"
			return 1
		fi
		sleep 0.1
	done
	export E2E_XPUSHD_PID E2E_APNS_PID E2E_FCM_PID
	return 0
}

# With E2E_WEBPUSH=1, e2e_start also starts the Web Push mock
# (test/mock/webpush_mock.py, with the FCM mock's certificate) and adds a
# provider block 'webpush' (webpush.so); exports E2E_WEBPUSH_RECORD,
# E2E_WEBPUSH_ORIGIN and E2E_WEBPUSH_CA.
e2e_webpush_start() {
	E2E_WEBPUSH_RECORD=$E2E_DIR/webpush.jsonl
	E2E_WEBPUSH_CA=$E2E_DIR/fcm-tls.crt
	"$top_builddir/xpushd-vapid" -g "$E2E_DIR/vapid.pem" >/dev/null ||
		{ echo "# xpushd-vapid -g failed"; return 1; }
	/usr/bin/python3 "$top_srcdir/test/mock/webpush_mock.py" \
	    --cert "$E2E_DIR/fcm-tls.crt" --key "$E2E_DIR/fcm-tls.key" \
	    --port-file "$E2E_DIR/webpush.port" --record "$E2E_WEBPUSH_RECORD" \
	    2>"$E2E_DIR/webpush_mock.log" &
	E2E_WEBPUSH_PID=$!
	e2e_wait_file "$E2E_DIR/webpush.port" 10 || { echo "# the Web Push mock did not start"; return 1; }
	E2E_WEBPUSH_ORIGIN=https://127.0.0.1:$(cat "$E2E_DIR/webpush.port")
	E2E_WEBPUSH_BLOCK="    webpush () {
        plugin = 'webpush'
        'vapid-key-file' = '$E2E_DIR/vapid.pem'
        'vapid-subject' = 'mailto:ops@localhost'
        'ca-file' = '$E2E_DIR/fcm-tls.crt'
    }"
	export E2E_WEBPUSH_RECORD E2E_WEBPUSH_ORIGIN E2E_WEBPUSH_CA E2E_WEBPUSH_PID
}

e2e_stop() {
	[ -n "${E2E_WEBPUSH_PID:-}" ] && kill "$E2E_WEBPUSH_PID" 2>/dev/null
	[ -n "${E2E_XPUSHD_PID:-}" ] && kill "$E2E_XPUSHD_PID" 2>/dev/null && wait "$E2E_XPUSHD_PID" 2>/dev/null
	[ -n "${E2E_APNS_PID:-}" ] && kill "$E2E_APNS_PID" 2>/dev/null
	[ -n "${E2E_FCM_PID:-}" ] && kill "$E2E_FCM_PID" 2>/dev/null
	prosody_stop
	ejabberd_stop
	pg_stop >/dev/null 2>&1
	E2E_XPUSHD_PID= E2E_APNS_PID= E2E_FCM_PID= E2E_WEBPUSH_PID=
	if [ -n "${E2E_DIR:-}" ] && [ -z "${XPUSHD_KEEP_LOGS:-}" ]; then
		rm -rf "$E2E_DIR"
	fi
}

# A registration's node and secret from a register-device answer (JSON).
e2e_field() {	# JSON FIELD
	/usr/bin/python3 -c 'import json, sys
d = json.loads(sys.argv[1])
v = d.get("fields", {}).get(sys.argv[2], "")
print(v if isinstance(v, str) else " ".join(v))' "$1" "$2"
}

e2e_count() {	# FILE
	if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

e2e_last() {	# FILE
	tail -1 "$1"
}

e2e_wait_count() {	# FILE N SECONDS
	tap_wait_for "[ \$(e2e_count '$1') -ge $2 ]" "$3"
}

e2e_jq() {	# JSON EXPR
	/usr/bin/python3 -c 'import json, sys
d = json.loads(sys.argv[1])
print(eval(sys.argv[2]))' "$1" "$2"
}

e2e_rows() {	# NODE
	psql -X -A -t "$XPUSHD_TEST_DB_URI" -c "select count(*) from devices where node = '$1'"
}

# The servers' log lines, from their sources: Prosody's mod_cloud_notify
# (handle_push_error; the identifier is "push-jid<node") and ejabberd's
# mod_push.erl (notify/5).  Prosody logs the wait case at debug level, as
# the test Prosody does by default.
e2e_push_disabled() {	# NODE
	case "$E2E_SERVER" in
	prosody) grep -cF "Disabling push notifications for identifier 'push.localhost<$1'" "$E2E_SERVER_LOG" ;;
	ejabberd) grep -c "push.localhost rejected notification for [^ ]* ($1), disabling push" "$E2E_SERVER_LOG" ;;
	esac
}

e2e_push_waited() {	# NODE
	case "$E2E_SERVER" in
	prosody) grep -F "for identifier 'push.localhost<$1': NOT increasing error count" "$E2E_SERVER_LOG" | grep -c "^" ;;
	ejabberd) grep -c "push.localhost rejected notification for [^ ]* ($1) temporarily" "$E2E_SERVER_LOG" ;;
	esac
}
