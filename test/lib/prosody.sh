# test/lib/prosody.sh: a throwaway Prosody (Debian's, with mod_cloud_notify
# from prosody-modules) for integration tests.  Source it, then:
#
#	prosody_available || skip
#	prosody_start			config + users alice, bob, admin
#					(password "pw") on VirtualHost localhost,
#					component push.localhost; exports
#					PROSODY_C2S_PORT, PROSODY_COMPONENT_PORT,
#					PROSODY_SECRET, PROSODY_DIR
#	prosody_stop_server / prosody_start_server	an outage
#	prosody_component_up		push.localhost answers a ping
#	prosody_stop			stop (by PID) and remove everything
#
# PROSODY_EXTRA_CFG is appended to the configuration (more components, for
# the benchmark); PROSODY_LOG_LEVEL sets the log level (debug).
#
# Prosody refuses to run as root: as root it runs as the prosody user.
# No TLS: the test client logs in with SCRAM over plain TCP on loopback.

prosody_available() {
	[ -x /usr/bin/prosody ] && [ -f /usr/lib/prosody/modules/mod_cloud_notify/mod_cloud_notify.lua ] || return 1
	if [ "$(id -u)" = 0 ]; then
		id prosody >/dev/null 2>&1 || return 1
	fi
	return 0
}

prosody_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u prosody -- "$@"
	else
		"$@"
	fi
}

prosody_free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

prosody_start() {
	PROSODY_DIR=$(mktemp -d "${TMPDIR:-/tmp}/xpushd-prosody.XXXXXX")
	mkdir -p "$PROSODY_DIR/data" "$PROSODY_DIR/modules"
	cp "$top_srcdir/test/lib/prosody-modules/mod_push_jingle_tag.lua" "$PROSODY_DIR/modules/"
	PROSODY_C2S_PORT=$(prosody_free_port)
	PROSODY_COMPONENT_PORT=$(prosody_free_port)
	PROSODY_SECRET=${PROSODY_SECRET:-component-secret}
	cat >"$PROSODY_DIR/prosody.cfg.lua" <<CFG
pidfile = "$PROSODY_DIR/prosody.pid"
daemonize = false
data_path = "$PROSODY_DIR/data"
plugin_paths = { "/usr/lib/prosody/modules", "$PROSODY_DIR/modules" }
interfaces = { "127.0.0.1" }
c2s_ports = { $PROSODY_C2S_PORT }
component_ports = { $PROSODY_COMPONENT_PORT }
component_interfaces = { "127.0.0.1" }
s2s_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
log = { { levels = { min = "${PROSODY_LOG_LEVEL:-debug}" }, to = "file", filename = "$PROSODY_DIR/prosody.log" } }
modules_enabled = { "roster", "saslauth", "disco", "ping", "time", "version",
  "posix", "carbons", "smacks", "cloud_notify", "private", "vcard", "mam",
  "push_jingle_tag" }
push_max_errors = ${PROSODY_PUSH_MAX_ERRORS:-16}
modules_disabled = { "s2s", "tls" }
push_notification_with_body = true
push_notification_with_sender = true
VirtualHost "localhost"
Component "push.localhost"
  component_secret = "$PROSODY_SECRET"
${PROSODY_EXTRA_CFG:-}
CFG
	[ "$(id -u)" = 0 ] && chown -R prosody "$PROSODY_DIR"
	for u in alice bob admin carol dave erin; do
		prosody_as prosodyctl --config "$PROSODY_DIR/prosody.cfg.lua" \
		    register "$u" localhost pw >/dev/null 2>&1 || return 1
	done
	prosody_start_server
}

prosody_start_server() {
	(prosody_as prosody --config "$PROSODY_DIR/prosody.cfg.lua" \
	    >>"$PROSODY_DIR/stdout.log" 2>&1 &)
	_i=0
	while [ $_i -lt 100 ]; do
		if /usr/bin/python3 - "$PROSODY_C2S_PORT" "$PROSODY_COMPONENT_PORT" <<'PY' 2>/dev/null
import socket, sys
for p in sys.argv[1:]:
    socket.create_connection(("127.0.0.1", int(p)), timeout=1).close()
PY
		then
			return 0
		fi
		sleep 0.1
		_i=$((_i + 1))
	done
	echo "# prosody did not start:" >&2
	tail -20 "$PROSODY_DIR/prosody.log" "$PROSODY_DIR/stdout.log" >&2
	return 1
}

prosody_pid() {
	[ -f "$PROSODY_DIR/prosody.pid" ] && cat "$PROSODY_DIR/prosody.pid"
}

# The component answers a XEP-0199 ping through Prosody: it is connected
# and serving.  Tests wait on this, not on a line in xpushd's log.  alice
# asks, so that no admin's client takes the admins' chat messages.
prosody_component_up() {
	/usr/bin/python3 "$top_srcdir/test/lib/client.py" --port "$PROSODY_C2S_PORT" \
	    --timeout 5 ping push.localhost 2>/dev/null | grep -q '"type": "result"'
}

prosody_stop_server() {
	_pid=$(prosody_pid) || return 0
	kill "$_pid" 2>/dev/null
	_i=0
	while kill -0 "$_pid" 2>/dev/null && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -9 "$_pid" 2>/dev/null
	rm -f "$PROSODY_DIR/prosody.pid"
}

prosody_stop() {
	[ -n "${PROSODY_DIR:-}" ] || return 0
	prosody_stop_server
	if [ -n "${XPUSHD_KEEP_LOGS:-}" ]; then
		echo "# prosody logs kept in $PROSODY_DIR"
	else
		rm -rf "$PROSODY_DIR"
	fi
	PROSODY_DIR=
}
