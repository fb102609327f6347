#!/bin/sh
# The publish pipeline and the ad-hoc commands against a throwaway
# PostgreSQL (see test/integration/publish_run.py).
. "$top_srcdir/test/lib/pg.sh"
pg_tap_run /usr/bin/python3 "$top_srcdir/test/integration/publish_run.py"
