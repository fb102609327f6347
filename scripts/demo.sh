#!/bin/sh
# scripts/demo.sh: xpushd's main job, end to end, on this machine.
#
# Installs what is missing (Debian 12), builds xpushd, starts a throwaway
# PostgreSQL, Debian's Prosody with mod_cloud_notify, a mock APNs and a
# mock FCM on loopback ports, connects xpushd to Prosody as its push
# component, and plays the story: Alice's phone registers at xpushd and
# enables push at her server, Alice goes away, Bob writes to her, and the
# push reaches "Apple".  Everything it started is stopped on exit, also on
# Ctrl-C.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { sed 's/^/   | /'; }

say "Installing what is missing (apt-get)"
sh scripts/deps.sh || exit 1

say "Building xpushd"
build="$top/build-demo"
mkdir -p "$build" m4
if [ ! -x "$build/xpushd" ] || [ configure.ac -nt "$build/Makefile" ]; then
	autoreconf -fi >/dev/null 2>&1 || { echo "autoreconf failed"; exit 1; }
	(cd "$build" && "$top/configure" -q >/dev/null 2>&1) || exit 1
fi
(cd "$build" && make -j"$(nproc)" >make.log 2>&1 &&
    make -j"$(nproc)" test/mock/apns_mock >>make.log 2>&1) ||
	{ tail -30 "$build/make.log"; exit 1; }
echo "   built $build/xpushd"

top_srcdir=$top
top_builddir=$build
export top_srcdir top_builddir
. "$top/test/lib/e2e.sh"
trap 'say "Stopping everything"; e2e_stop; exit' EXIT INT TERM

say "Starting PostgreSQL, Prosody, the APNs and FCM mocks, and xpushd"
e2e_start || exit 1
echo "   PostgreSQL  $XPUSHD_TEST_DB_URI"
echo "   Prosody     c2s 127.0.0.1:$PROSODY_C2S_PORT, component port $PROSODY_COMPONENT_PORT"
echo "   APNs mock   https://127.0.0.1:$E2E_APNS_PORT (HTTP/2, client certificate checked)"
echo "   FCM mock    https://127.0.0.1:$E2E_FCM_PORT (HTTP/2, OAuth2 JWT checked)"
echo "   xpushd log  $E2E_XPUSHD_LOG"
grep -E "provider .* ready|link: connected" "$E2E_XPUSHD_LOG" | cut -d' ' -f3- | show

token=$(printf 'a1%.0s' $(seq 32))
say "Alice's phone registers its APNs token at push.localhost (XEP-0050 register-device)"
out=$(e2e_client --jid alice@localhost -- command push.localhost register-device \
	provider=apns-binary-api device-token="$token")
node=$(e2e_field "$out" node)
secret=$(e2e_field "$out" secret)
[ -n "$node" ] || { echo "registration failed: $out"; exit 1; }
echo "   node   = $node"
echo "   secret = $secret"
grep "register-device:" "$E2E_XPUSHD_LOG" | tail -1 | cut -d' ' -f3- | show

say "Alice enables push at her server (XEP-0357 enable, secret as publish-options) and goes offline"
e2e_client --jid alice@localhost -- enable-push push.localhost "$node" "$secret" | show

say "Bob writes to Alice"
e2e_client --jid bob@localhost -- send alice@localhost "Dinner at eight?" >/dev/null
i=0
while [ ! -s "$E2E_APNS_RECORD" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

say "Prosody published to xpushd; xpushd logged"
grep -E "router: pubsub|link: send <iq type='(result|error)' id='[0-9a-f]{40,}'" "$E2E_XPUSHD_LOG" |
	tail -2 | cut -d' ' -f3- | cut -c1-220 | show
grep "Push notification.*\|cloud_notify.*Sending" "$PROSODY_DIR/prosody.log" | tail -2 | cut -c1-200 | show

say "The push as the mock APNs received it"
if [ -s "$E2E_APNS_RECORD" ]; then
	/usr/bin/python3 -c 'import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("POST", r["path"], "->", r["status"])
for k in ("apns-topic", "apns-push-type", "apns-priority", "apns-id"):
    print("%s: %s" % (k, r["headers"].get(k)))
print(json.dumps(json.loads(r["body"]), indent=2, ensure_ascii=False))' "$E2E_APNS_RECORD" | show
	say "Done: Alice's phone would now wake up and fetch the message."
else
	echo "   no push arrived; see $E2E_XPUSHD_LOG"
	exit 1
fi
