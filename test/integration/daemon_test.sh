#!/bin/sh
# The daemon's command line: -t, -V, SIGHUP with a good and a broken file,
# SIGTERM; started as root: the `user` key drops root, its absence is
# warned about.  TAP output.
. "$top_srcdir/test/lib/tap.sh"

xpushd="$top_builddir/xpushd"
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

export XPUSHD_SECRET=sekrit XPUSHD_APNS_PASSWORD=pw

# The modules check their provider blocks, so -t loads them: from the
# build tree (top-level keys may go anywhere in the file).
sample="$tmp/sample.conf"
{ echo "'module-path' = '$top_builddir/plugins/.libs'"
  cat "$top_srcdir/conf/xpushd.conf.sample"; } >"$sample"

"$xpushd" -V | grep -q '^xpushd [0-9]'
tap_ok $? "-V prints the version"

"$xpushd" -t -c "$sample" 2>"$tmp/err"
tap_ok $? "-t accepts conf/xpushd.conf.sample"
grep -q "configuration OK" "$tmp/err"
tap_ok $? "-t says the configuration is OK"

printf "xmpp () {\n  jid = 'p'\n  port = 'x'\n}\n" >"$tmp/bad.conf"
"$xpushd" -t -c "$tmp/bad.conf" 2>"$tmp/err"
tap_is "$?" 1 "-t rejects a broken file with exit 1"
tap_is "$(cat "$tmp/err")" "$tmp/bad.conf:3:10: 'port' takes an integer, not a string" \
	"-t names file:line:col"

# p2 () names provider blocks: one that push () lacks is an error.
sed "s/apns = 'apns-binary-api'/apns = 'apns-nowhere'/" "$sample" >"$tmp/p2.conf"
"$xpushd" -t -c "$tmp/p2.conf" 2>"$tmp/err"
tap_is "$?" 1 "-t rejects a p2 block naming no provider block"
tap_is "$(cat "$tmp/err")" "p2: apns = 'apns-nowhere' names no provider block of push ()" \
	"and names the key and the block"

"$xpushd" -t -c "$tmp/missing.conf" 2>"$tmp/err"
tap_is "$?" 1 "-t on a missing file exits 1"
grep -q "missing.conf: No such file" "$tmp/err"
tap_ok $? "and says why"

unset XPUSHD_SECRET
"$xpushd" -t -c "$sample" 2>"$tmp/err"
tap_is "$?" 1 "a missing env() variable is an error"
grep -q "environment variable XPUSHD_SECRET is not set" "$tmp/err"
tap_ok $? "naming the variable"
export XPUSHD_SECRET=sekrit

# A running daemon: SIGHUP with a broken file keeps it running.  No
# providers here: their modules have tests of their own.
cat >"$tmp/good.conf" <<CONF
xmpp () { jid = 'push.example.com'; port = 1; secret = env('XPUSHD_SECRET') }
database () { uri = 'postgresql:///unused'; migrations = '$top_srcdir/sql/migrations' }
CONF
cp "$tmp/good.conf" "$tmp/run.conf"
"$xpushd" -f -c "$tmp/run.conf" 2>"$tmp/log" &
pid=$!
tap_wait_for "grep -q 'starting as push.example.com' '$tmp/log'" 30
tap_ok $? "the daemon starts in the foreground"

echo "this is not = valid {" >>"$tmp/run.conf"
kill -HUP "$pid"
tap_wait_for "grep -q 'reload refused' '$tmp/log'" 30
tap_ok $? "SIGHUP with a broken file is refused"
grep -q "reload refused, keeping the running configuration: $tmp/run.conf:[0-9]*:[0-9]*:" "$tmp/log"
tap_ok $? "the refusal names file:line:col"
kill -0 "$pid" 2>/dev/null
tap_ok $? "the daemon keeps running"

cp "$tmp/good.conf" "$tmp/run.conf"
kill -HUP "$pid"
tap_wait_for "grep -q 'configuration reloaded' '$tmp/log'" 30
tap_ok $? "SIGHUP with a good file reloads"

kill -TERM "$pid"
tap_wait_for "! kill -0 $pid 2>/dev/null" 30
tap_ok $? "SIGTERM stops the daemon"
wait "$pid"
tap_is "$?" 0 "with exit status 0"
pid=
grep -q "stopped" "$tmp/log"
tap_ok $? "and it logs that it stopped"

# Started as root: without `user` a warning names the key; with it, root
# is dropped after start-up and a SIGHUP still reads the file.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	grep -q "running as root: set the \`user\` key" "$tmp/log"
	tap_ok $? "as root without \`user\`: a warning names the key"
	chmod 755 "$tmp"
	{ echo "user = 'nobody'"; cat "$tmp/good.conf"; } >"$tmp/run.conf"
	chmod 644 "$tmp/run.conf"
	"$xpushd" -f -c "$tmp/run.conf" 2>"$tmp/log2" &
	pid=$!
	tap_wait_for "grep -q 'running as user nobody' '$tmp/log2'" 30
	tap_ok $? "user = 'nobody': it says it dropped root"
	uid=$(id -u nobody) gid=$(id -g nobody)
	tap_is "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' /proc/$pid/status)" \
		"$uid $uid $uid $uid" "/proc/PID/status: every uid is nobody's"
	tap_is "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' /proc/$pid/status)" \
		"$gid $gid $gid $gid" "every gid is nobody's group"
	tap_is "$(awk '/^Groups:/ { print $2 }' /proc/$pid/status)" "$gid" \
		"no supplementary group but that one"
	grep -q "running as root" "$tmp/log2"
	tap_is $? 1 "no warning about root"
	kill -HUP "$pid"
	tap_wait_for "grep -q 'configuration reloaded' '$tmp/log2'" 30
	tap_ok $? "after the drop, SIGHUP reads the file as nobody and reloads"
	kill -TERM "$pid"
	tap_wait_for "! kill -0 $pid 2>/dev/null" 30
	wait "$pid"
	tap_is "$?" 0 "it stops with exit status 0"
	pid=

	{ echo "user = 'no-such-user-xpushd'"; cat "$tmp/good.conf"; } >"$tmp/run.conf"
	"$xpushd" -f -c "$tmp/run.conf" 2>"$tmp/log3"
	tap_is "$?" 1 "an unknown user stops it"
	grep -q "user 'no-such-user-xpushd' (the \`user\` key): no such user" "$tmp/log3"
	tap_ok $? "naming the key"

	# Not root, with the key: ignored with a warning.
	if command -v setpriv >/dev/null; then
		{ echo "user = 'root'"; cat "$tmp/good.conf"; } >"$tmp/run.conf"
		setpriv --reuid="$uid" --regid="$gid" --clear-groups \
			"$xpushd" -f -c "$tmp/run.conf" 2>"$tmp/log4" &
		pid=$!
		tap_wait_for "grep -q 'starting as push.example.com' '$tmp/log4'" 30
		tap_ok $? "as nobody with user = 'root': it starts"
		tap_wait_for "grep -q \"the \\\`user\\\` key ('root') is ignored\" '$tmp/log4'" 30
		tap_ok $? "and warns that the key is ignored"
		kill -TERM "$pid"
		tap_wait_for "! kill -0 $pid 2>/dev/null" 30
		wait "$pid"
		pid=
	else
		tap_skip "setpriv is not installed" 2
	fi
else
	tap_skip "not root, or no user nobody" 11
fi

tap_done
