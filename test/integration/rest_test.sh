#!/bin/sh
# The HTTPS endpoint against a throwaway PostgreSQL (see
# test/integration/rest_run.py).
. "$top_srcdir/test/lib/pg.sh"
command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP no curl"; exit 0; }
pg_tap_run /usr/bin/python3 "$top_srcdir/test/integration/rest_run.py"
