#!/bin/sh
# Runs test/integration/store_cluster_test (TAP) against a throwaway PostgreSQL
# cluster.
. "${top_srcdir:-.}/test/lib/pg.sh"
pg_tap_run "${top_builddir:-.}/test/integration/store_cluster_test"
