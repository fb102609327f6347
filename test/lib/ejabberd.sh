# test/lib/ejabberd.sh: a throwaway ejabberd (Debian's 23.01, with its
# mod_push) for integration tests, the twin of test/lib/prosody.sh.  Source
# it, then:
#
#	ejabberd_available || skip
#	ejabberd_start			config + users alice, bob, admin,
#					carol, dave, erin (password "pw") on
#					host localhost, component
#					push.localhost; exports
#					EJABBERD_C2S_PORT,
#					EJABBERD_COMPONENT_PORT,
#					EJABBERD_SECRET, EJABBERD_DIR,
#					EJABBERD_LOG
#	ejabberd_stop_server / ejabberd_start_server	an outage (the
#					spool, and so the users and the push
#					sessions, survive it)
#	ejabberd_component_up		push.localhost answers a ping
#	ejabberd_ctl ARGS		ejabberdctl against this node
#	ejabberd_push_sessions		the push sessions mod_push stored
#					(XEP-0357 enable), one "user@host
#					node" line each
#	ejabberd_stop			stop (by PID) and remove everything
#
# Every run is its own Erlang node: a unique node name and cookie, and
# ERL_DIST_PORT (ejabberdctl: "-erl_epmd_port PORT -start_epmd false"), so
# no epmd is started or shared and parallel runs cannot meet.  Everything
# listens on 127.0.0.1 only.  As root, ejabberdctl itself runs the VM as
# the ejabberd user (its INSTALLUSER).  No TLS: c2s has starttls off, and
# the test client logs in with SCRAM over plain TCP on loopback.
#
# mod_push (src/mod_push.erl) is configured with include_body: true and
# include_sender: true (make_summary: the summary form then carries
# last-message-body and last-message-sender; the default would be the
# static text "New message" and no sender).  There is no mod_mam, so an
# offline message is pushed through mod_offline's offline_message_hook
# (mod_push:offline_message), not through store_mam_message.

EJABBERD_CTL=/usr/sbin/ejabberdctl
# Deadlines (tenths of a second) for the waits below.
EJABBERD_START_TENTHS=600
EJABBERD_STOP_TENTHS=300

ejabberd_available() {
	[ -x "$EJABBERD_CTL" ] && [ -x /usr/bin/erl ] || return 1
	ls /usr/lib/*/ejabberd-*/ebin/mod_push.beam >/dev/null 2>&1 || return 1
	if [ "$(id -u)" = 0 ]; then
		id ejabberd >/dev/null 2>&1 || return 1
	elif [ "$(id -un)" != ejabberd ]; then
		# ejabberdctl runs only as root or as the ejabberd user.
		return 1
	fi
	return 0
}

ejabberd_free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# ejabberdctl with this run's configuration, spool, logs and node.
ejabberd_ctl() {
	"$EJABBERD_CTL" --config-dir "$EJABBERD_DIR" \
	    --config "$EJABBERD_DIR/ejabberd.yml" \
	    --ctl-config "$EJABBERD_DIR/ejabberdctl.cfg" \
	    --logs "$EJABBERD_DIR/log" --spool "$EJABBERD_DIR/spool" "$@"
}

ejabberd_ports_open() {
	/usr/bin/python3 - "$EJABBERD_C2S_PORT" "$EJABBERD_COMPONENT_PORT" <<'PY' 2>/dev/null
import socket, sys
for p in sys.argv[1:]:
    socket.create_connection(("127.0.0.1", int(p)), timeout=1).close()
PY
}

ejabberd_start() {
	EJABBERD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/xpushd-ejabberd.XXXXXX")
	chmod 755 "$EJABBERD_DIR"
	mkdir -p "$EJABBERD_DIR/spool" "$EJABBERD_DIR/log"
	EJABBERD_LOG=$EJABBERD_DIR/log/ejabberd.log
	EJABBERD_C2S_PORT=$(ejabberd_free_port)
	EJABBERD_COMPONENT_PORT=$(ejabberd_free_port)
	EJABBERD_DIST_PORT=$(ejabberd_free_port)
	EJABBERD_SECRET=${EJABBERD_SECRET:-component-secret}
	_rnd=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	EJABBERD_NODE=xpushd-test-$_rnd@localhost
	_cookie=XPUSHDTEST$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	cp /etc/ejabberd/inetrc "$EJABBERD_DIR/inetrc" 2>/dev/null ||
		printf '{lookup,["file","native"]}.\n' >"$EJABBERD_DIR/inetrc"
	cat >"$EJABBERD_DIR/ejabberdctl.cfg" <<CFG
ERLANG_NODE=$EJABBERD_NODE
ERL_DIST_PORT=$EJABBERD_DIST_PORT
INET_DIST_INTERFACE=127.0.0.1
ERL_OPTIONS="-setcookie $_cookie -env ERL_CRASH_DUMP_BYTES 0"
EJABBERD_PID_PATH=$EJABBERD_DIR/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
CFG
	cat >"$EJABBERD_DIR/ejabberd.yml" <<CFG
# Written by test/lib/ejabberd.sh for one run.
hosts:
  - localhost
loglevel: ${EJABBERD_LOG_LEVEL:-debug}
log_rotate_count: 0
certfiles: []
listen:
  -
    port: $EJABBERD_C2S_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
    starttls_required: false
    max_stanza_size: 262144
    access: c2s
  -
    port: $EJABBERD_COMPONENT_PORT
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts:
      push.localhost:
        password: "$EJABBERD_SECRET"
auth_method: internal
auth_password_format: scram
default_db: mnesia
disable_sasl_mechanisms:
  - "digest-md5"
  - "x-oauth2"
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  # No server-to-server traffic: a stanza to an unknown domain (the
  # component while it is down) bounces at once instead of a DNS lookup.
  s2s:
    deny: all
s2s_access: s2s
shaper_rules:
  max_user_offline_messages: 5000
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
modules:
  mod_adhoc: {}
  mod_carboncopy: {}
  mod_disco: {}
  mod_offline:
    access_max_user_messages: max_user_offline_messages
  mod_ping: {}
  mod_push:
    include_body: true
    include_sender: true
  mod_roster: {}
  mod_stream_mgmt: {}
CFG
	if [ "$(id -u)" = 0 ]; then
		chown -R ejabberd "$EJABBERD_DIR"
		chmod 600 "$EJABBERD_DIR/ejabberdctl.cfg"
	fi
	export EJABBERD_DIR EJABBERD_LOG EJABBERD_C2S_PORT \
	    EJABBERD_COMPONENT_PORT EJABBERD_SECRET
	ejabberd_start_server || return 1
	# ejabberdctl starts one Erlang VM per call: register in parallel.
	_pids=
	for u in alice bob admin carol dave erin; do
		ejabberd_ctl register "$u" localhost pw \
		    >"$EJABBERD_DIR/register-$u.log" 2>&1 &
		_pids="$_pids $!"
	done
	_rc=0
	for p in $_pids; do
		wait "$p" || _rc=1
	done
	if [ $_rc -ne 0 ]; then
		echo "# ejabberdctl register failed:" >&2
		cat "$EJABBERD_DIR"/register-*.log >&2
		return 1
	fi
	return 0
}

ejabberd_pid() {
	[ -s "$EJABBERD_DIR/ejabberd.pid" ] && cat "$EJABBERD_DIR/ejabberd.pid"
}

# Start the node (detached) and wait until it listens on both ports and
# ejabberdctl status says the application runs.
ejabberd_start_server() {
	rm -f "$EJABBERD_DIR/ejabberd.pid"
	ejabberd_ctl start >>"$EJABBERD_DIR/log/start.log" 2>&1 || {
		echo "# ejabberdctl start failed:" >&2
		cat "$EJABBERD_DIR/log/start.log" >&2
		return 1
	}
	_i=0
	while ! { [ -s "$EJABBERD_DIR/ejabberd.pid" ] && ejabberd_ports_open; }; do
		_i=$((_i + 1))
		if [ $_i -gt $EJABBERD_START_TENTHS ]; then
			echo "# ejabberd did not start:" >&2
			tail -20 "$EJABBERD_LOG" "$EJABBERD_DIR/log/error.log" \
			    "$EJABBERD_DIR/log/start.log" >&2 2>/dev/null
			return 1
		fi
		sleep 0.1
	done
	# The listeners open once the modules are started; status confirms
	# that the node answers ejabberdctl (register needs it).
	ejabberd_ctl status >"$EJABBERD_DIR/log/status.log" 2>&1 || {
		echo "# ejabberdctl status failed:" >&2
		cat "$EJABBERD_DIR/log/status.log" >&2
		return 1
	}
	return 0
}

# mod_push keeps one push_session record per enable (mod_push_mnesia.erl:
# -record(push_session, {us, timestamp, service, node, xml})); ejabberdctl
# dump_table writes the table as Erlang terms.  Prints "user@host node" for
# each, so that a test sees what ejabberd stored and what it deleted
# (mod_push:notify/5 deletes the session on an error reply).
ejabberd_push_sessions() {
	_f=$EJABBERD_DIR/push_session.$$.txt
	rm -f "$_f"
	ejabberd_ctl dump_table "$_f" push_session >/dev/null 2>&1 || return 1
	/usr/bin/python3 - "$_f" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rec = re.compile(r'\{push_session,\s*\{<<"([^"]*)">>,<<"([^"]*)">>\},\s*'
                 r'\{[^}]*\},\s*\{[^}]*\},\s*<<"([^"]*)">>')
for user, host, node in rec.findall(text):
    print("%s@%s %s" % (user, host, node))
PY
	_rc=$?
	rm -f "$_f"
	return $_rc
}

# The component answers a XEP-0199 ping through ejabberd: it is connected
# and serving.  alice asks, so that no admin's client takes the admins'
# chat messages.
ejabberd_component_up() {
	/usr/bin/python3 "$top_srcdir/test/lib/client.py" --port "$EJABBERD_C2S_PORT" \
	    --timeout 5 ping push.localhost 2>/dev/null | grep -q '"type": "result"'
}

# Stop the node by its PID (SIGTERM: the Erlang VM runs init:stop(), a
# clean shutdown) and wait until it is gone.
ejabberd_stop_server() {
	_pid=$(ejabberd_pid) || return 0
	kill "$_pid" 2>/dev/null
	_i=0
	while kill -0 "$_pid" 2>/dev/null && [ $_i -lt $EJABBERD_STOP_TENTHS ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -9 "$_pid" 2>/dev/null
	rm -f "$EJABBERD_DIR/ejabberd.pid"
	return 0
}

ejabberd_stop() {
	[ -n "${EJABBERD_DIR:-}" ] || return 0
	ejabberd_stop_server
	if [ -n "${XPUSHD_KEEP_LOGS:-}" ]; then
		echo "# ejabberd logs kept in $EJABBERD_DIR"
	else
		rm -rf "$EJABBERD_DIR"
	fi
	EJABBERD_DIR=
}
