#!/bin/sh
# The fpush dialect in the publish pipeline against a throwaway
# PostgreSQL (see test/integration/fpush_pipeline_run.py).
. "$top_srcdir/test/lib/pg.sh"
pg_tap_run /usr/bin/python3 "$top_srcdir/test/integration/fpush_pipeline_run.py"
