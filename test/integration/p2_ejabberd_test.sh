#!/bin/sh
# The Conversations family through ejabberd: p2_test.sh's scenario, the
# stanzas Conversations sends, with Debian's ejabberd 23.01 and its
# mod_push in place of Prosody's mod_cloud_notify.  The scenario asks
# xpushd, PostgreSQL and the mocks what happened, never the server's log,
# so it runs unchanged.  TAP output.
E2E_SERVER=ejabberd
export E2E_SERVER
. "$top_srcdir/test/integration/p2_test.sh"
