#!/bin/sh
# The certificate watch against a throwaway PostgreSQL (see
# test/integration/certwatch_run.py).
. "$top_srcdir/test/lib/pg.sh"
pg_tap_run /usr/bin/python3 "$top_srcdir/test/integration/certwatch_run.py"
