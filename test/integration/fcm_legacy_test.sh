#!/bin/sh
# The configuration side of fcm.so: xpushd -t refuses Tigase's retired
# fcm-xmpp-api block with a hint naming fcm-http-v1, and accepts an
# fcm-http-v1 block checked against fcm.so's options table.
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

tap_done
