#!/bin/sh
# Stork and Siskin through ejabberd: apps_test.sh's scenario with Debian's
# ejabberd 23.01 and its mod_push in place of Prosody's mod_cloud_notify.
# The scenario reads neither server's log; where ejabberd differs (tag
# 23.01):
#   - disco#items on the users' domain lists the component as
#     <item jid='push.localhost'/> (mod_disco.erl get_local_services/5:
#     the routes under the domain), as Prosody does, so Siskin finds it;
#   - the summary form holds last-message-body and last-message-sender
#     only (mod_push.erl make_summary/3), so Siskin's push carries no
#     unread-messages;
#   - the first error that is not of type wait disables push for the
#     device (mod_push.erl notify/5, which spawns delete_session/3).
# TAP output.
E2E_SERVER=ejabberd
export E2E_SERVER
. "$top_srcdir/test/integration/apps_test.sh"
