#!/bin/sh
# The Push 2.0 relay (core/push2.c) against the APNs, FCM and Web Push
# mocks and a scripted user's server, with a throwaway PostgreSQL (xpushd
# needs its database to start).  See test/integration/push2_run.py.
if ! /usr/bin/python3 -c 'import h2, cryptography' 2>/dev/null; then
	echo "1..0 # SKIP needs Debian's python3-h2 and python3-cryptography"
	exit 0
fi
. "$top_srcdir/test/lib/pg.sh"
pg_tap_run /usr/bin/python3 "$top_srcdir/test/integration/push2_run.py"
