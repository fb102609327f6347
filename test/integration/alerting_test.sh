#!/bin/sh
# The alerting files installed with xpushd against a running daemon and a
# throwaway PostgreSQL (see test/integration/alerting_run.py).
. "$top_srcdir/test/lib/pg.sh"
pg_tap_run /usr/bin/python3 "$top_srcdir/test/integration/alerting_run.py"
