#!/bin/sh
# webpush.so against the Web Push mock: makes a TLS certificate for
# 127.0.0.1, the App Server's VAPID key (with xpushd-vapid -g, as an
# operator would) and a second one for the user's server of the Push 2.0
# relay, then runs test/integration/webpush_module_test (TAP), which starts and
# kills the mocks itself.  $1: pushes for the throughput figure.
tmp=$(mktemp -d)
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

if ! /usr/bin/python3 -c 'import h2, cryptography' 2>/dev/null; then
	echo "1..0 # SKIP needs Debian's python3-h2 and python3-cryptography"
	exit 0
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	-nodes -keyout "$tmp/tls.key" -out "$tmp/tls.crt" -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	2>/dev/null || { echo "Bail out! openssl failed"; exit 1; }
"$top_builddir/xpushd-vapid" -g "$tmp/vapid.pem" >"$tmp/vapid.pub" &&
"$top_builddir/xpushd-vapid" -g "$tmp/server.pem" >/dev/null ||
	{ echo "Bail out! xpushd-vapid -g failed"; exit 1; }
[ "$(stat -c %a "$tmp/vapid.pem")" = 600 ] ||
	{ echo "Bail out! xpushd-vapid -g made a key others can read"; exit 1; }
"$top_builddir/xpushd-vapid" -g "$tmp/vapid.pem" 2>/dev/null &&
	{ echo "Bail out! xpushd-vapid -g overwrote a key"; exit 1; }
[ "$("$top_builddir/xpushd-vapid" "$tmp/vapid.pem")" = "$(cat "$tmp/vapid.pub")" ] ||
	{ echo "Bail out! xpushd-vapid prints another key than it made"; exit 1; }

"$top_builddir/test/integration/webpush_module_test" "$tmp" "$@"
rc=$?
[ $rc -ne 0 ] && for f in mock mock1; do
	[ -f "$tmp/$f.jsonl" ] && cp "$tmp/$f.jsonl" \
	    "$top_builddir/test/integration/webpush_module_test.$f.jsonl" &&
	    echo "# mock record kept: test/integration/webpush_module_test.$f.jsonl"
done
exit $rc
