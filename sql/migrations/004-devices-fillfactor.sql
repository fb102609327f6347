-- 004-devices-fillfactor: room on every page of devices for a second
-- version of each row.  xpushd writes last_push after a push (batched, at
-- most every REGISTRY_MARK_EVERY seconds per device, core/registry.c):
-- on a full page that update moves the row and adds an entry to each of
-- the table's five indexes; with room on the page and no indexed column
-- changed it is a heap-only (HOT) update that touches no index.  A cold
-- cache writes last_push for nearly every publish, so this is most of
-- what a cold publish costs PostgreSQL.
--
-- The setting applies to pages written from now on (new registrations,
-- bulk loads); existing pages get it when the table is rewritten, e.g.
-- with VACUUM FULL devices (which locks the table while it runs).

ALTER TABLE devices SET (fillfactor = 90);
