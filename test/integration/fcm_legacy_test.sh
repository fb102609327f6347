#!/bin/sh
# The configuration side of fcm.so: xpushd -t refuses Tigase's retired
# fcm-xmpp-api block with a hint naming fcm-http-v1, and accepts an
# fcm-http-v1 block checked against fcm.so's options table.  The id
# fcm-xmpp-api itself (Stork's, hard-coded) is accepted when the block
# names the HTTP v1 module, by plugin = 'fcm' or by Tigase's class
# parameter, and carries none of the legacy keys.
. "$top_srcdir/test/lib/tap.sh"

xpushd="$top_builddir/xpushd"
tmp=$(mktemp -d)
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

base() {
	cat <<CONF
module-path = '$top_builddir/plugins/.libs'
xmpp () {
    jid = 'push.example.com'
    host = '127.0.0.1'
    port = 5347
    secret = 'sekrit'
}
database () {
    uri = 'postgresql://xpushd@localhost/xpushd'
}
CONF
}

{ base; cat "$top_srcdir/test/fixtures/conf/tigase-fcm-legacy.conf"; } \
	>"$tmp/legacy.conf"
"$xpushd" -t -c "$tmp/legacy.conf" 2>"$tmp/err"
tap_is "$?" 1 "-t refuses an fcm-xmpp-api block"
grep -q "fcm-http-v1" "$tmp/err"
tap_ok $? "the hint names fcm-http-v1"
grep -q "service-account-file" "$tmp/err"
tap_ok $? "and service-account-file"
grep -q "2024" "$tmp/err"
tap_ok $? "and says the API was shut down in 2024"
tap_diag "$(cat "$tmp/err")"

openssl genrsa -out "$tmp/sa.key" 2048 2>/dev/null
/usr/bin/python3 - "$tmp/sa.key" "$tmp/sa.json" <<'PY'
import json, sys
json.dump({"type": "service_account", "project_id": "p",
           "client_email": "x@p.iam.gserviceaccount.com",
           "token_uri": "https://oauth2.googleapis.com/token",
           "private_key": open(sys.argv[1]).read()}, open(sys.argv[2], "w"))
PY
{ base; cat <<CONF
push () {
    'fcm-http-v1' () {
        'service-account-file' = '$tmp/sa.json'
        'pool-size' = 2
        ttl = 3600
        notification = true
    }
}
CONF
} >"$tmp/good.conf"
"$xpushd" -t -c "$tmp/good.conf" 2>"$tmp/err"
tap_is "$?" 0 "-t accepts an fcm-http-v1 block"
tap_diag "$(cat "$tmp/err")"

sed "s/ttl = 3600/'server-key' = 'x'/" "$tmp/good.conf" >"$tmp/unknown.conf"
"$xpushd" -t -c "$tmp/unknown.conf" 2>"$tmp/err"
tap_is "$?" 1 "-t refuses an unknown key in fcm-http-v1"
grep -q "server-key" "$tmp/err"
tap_ok $? "naming it"

# fcm-xmpp-api served by FCM HTTP v1.
v1() {	# PARAMS BODY: an fcm-xmpp-api block
	base
	printf "push () {\n    'fcm-xmpp-api' %s {\n%s\n    }\n}\n" "$1" "$2"
}
accepted() {	# NAME CONF
	"$xpushd" -t -c "$2" 2>"$tmp/err"
	tap_is "$?" 0 "-t accepts $1"
	tap_diag "$(cat "$tmp/err")"
}
sa="        'service-account-file' = '$tmp/sa.json'"
v1 "()" "        plugin = 'fcm'
$sa" >"$tmp/v1-plugin.conf"
accepted "fcm-xmpp-api with plugin = 'fcm' and the v1 keys" "$tmp/v1-plugin.conf"
v1 "(class: tigase.push.fcm.FcmHttpV1Provider)" "$sa" >"$tmp/v1-class.conf"
accepted "fcm-xmpp-api (class: tigase.push.fcm.FcmHttpV1Provider) as Tigase writes it" \
    "$tmp/v1-class.conf"

v1 "(class: tigase.push.fcm.FcmHttpV1Provider)" "" >"$tmp/v1-nokey.conf"
"$xpushd" -t -c "$tmp/v1-nokey.conf" 2>"$tmp/err"
tap_is "$?" 1 "-t refuses it without service-account-file"
grep -q "provider 'fcm-xmpp-api' needs 'service-account-file'" "$tmp/err"
tap_ok $? "naming the missing key"
tap_diag "$(cat "$tmp/err")"

refused() {	# NAME CONF: -t refuses CONF with the migration hint
	"$xpushd" -t -c "$2" 2>"$tmp/err"
	tap_is "$?" 1 "-t refuses $1"
	grep -q "used Google's legacy FCM API.*plugin = 'fcm'" "$tmp/err"
	tap_ok $? "with the migration hint, which shows the v1 block under the same id"
	tap_diag "$(cat "$tmp/err")"
}
v1 "(class: tigase.push.fcm.FcmHttpV1Provider)" "        'sender-id' = 'x'
        'server-key' = 'y'" >"$tmp/v1-legacy.conf"
refused "the class with the legacy sender-id and server-key" "$tmp/v1-legacy.conf"
v1 "()" "        plugin = 'fcm'
$sa
        'server-key' = 'y'" >"$tmp/v1-mixed.conf"
refused "plugin = 'fcm' with a legacy key left over" "$tmp/v1-mixed.conf"
v1 "()" "        plugin = 'apns'
        'apns-topic' = 'com.example.app'" >"$tmp/v1-apns.conf"
refused "fcm-xmpp-api on another module than fcm" "$tmp/v1-apns.conf"

tap_done
