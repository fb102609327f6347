#!/bin/sh
# The Push 2.0 relay (core/push2.c) against the APNs and FCM mocks and a
# scripted user's server, with a throwaway PostgreSQL (xpushd needs its
# database to start).  See test/integration/push2_run.py.
. "$top_srcdir/test/lib/pg.sh"
pg_tap_run /usr/bin/python3 "$top_srcdir/test/integration/push2_run.py"
