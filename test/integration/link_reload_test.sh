#!/bin/sh
# A SIGHUP that changes how the component connects, with publishes in
# flight (test/integration/link_reload_run.py), against a throwaway
# PostgreSQL.
. "$top_srcdir/test/lib/pg.sh"
pg_tap_run /usr/bin/python3 "$top_srcdir/test/integration/link_reload_run.py"
