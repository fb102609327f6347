#!/bin/sh
# fcm.so against the FCM mock: makes a throwaway service-account key, a
# second key Google "does not know", and a TLS certificate for 127.0.0.1,
# then runs test/integration/fcm_test (TAP), which starts and kills the mock
# itself.
tmp=$(mktemp -d)
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

# $FCM_MOCK: the C mock instead of fcm_mock.py (fcm_cmock_test.sh).
if [ -z "${FCM_MOCK:-}" ] &&
    ! /usr/bin/python3 -c 'import h2, cryptography' 2>/dev/null; then
	echo "1..0 # SKIP needs Debian's python3-h2 and python3-cryptography"
	exit 0
fi
openssl genrsa -out "$tmp/sa.key" 2048 2>/dev/null &&
openssl genrsa -out "$tmp/other.key" 2048 2>/dev/null &&
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	-nodes -keyout "$tmp/tls.key" -out "$tmp/tls.crt" -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	2>/dev/null || { echo "Bail out! openssl failed"; exit 1; }

"$top_builddir/test/integration/fcm_test" "$tmp"
rc=$?
kept="$top_builddir/test/integration/fcm_test${FCM_MOCK:+_cmock}.record.jsonl"
[ $rc -ne 0 ] && [ -f "$tmp/record.jsonl" ] &&
	echo "# mock record kept: $(cp "$tmp/record.jsonl" "$kept" &&
	    echo "$kept")"
exit $rc
