#!/bin/sh
# fpush_test.sh's scenario (Monal's and Quicksy's enable, the push at the
# APNs mock, refusals, a dead token, the mode off) through Debian's
# ejabberd 23.01 and its mod_push instead of Prosody.  mod_push keeps the
# enable's form as publish-options (mod_push.erl, process_iq and notify/7)
# and disables push for a device at the first error answer of a type other
# than wait (notify/5).  TAP output.
E2E_SERVER=ejabberd
export E2E_SERVER
. "$top_srcdir/test/integration/fpush_test.sh"
