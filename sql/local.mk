# sql/: the schema (to read) and the numbered migrations that
# `xpushd --migrate` applies from $(pkgdatadir)/sql/migrations.
sqldir = $(pkgdatadir)/sql
dist_sql_DATA = sql/schema.sql
sqlmigrationsdir = $(pkgdatadir)/sql/migrations
dist_sqlmigrations_DATA = \
	sql/migrations/001-initial.sql \
	sql/migrations/002-cert-warnings.sql \
	sql/migrations/003-p2.sql
