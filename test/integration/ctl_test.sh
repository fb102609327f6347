#!/bin/sh
# xpushctl(8) against a throwaway PostgreSQL and a running xpushd (see
# test/integration/ctl_run.py).
. "$top_srcdir/test/lib/pg.sh"
pg_tap_run /usr/bin/python3 "$top_srcdir/test/integration/ctl_run.py"
