# The Tigase apps, Stork and Siskin, unmodified, end to end through a real
# XMPP server: Prosody (apps_test.sh) and ejabberd (apps_ejabberd_test.sh).
TESTS += test/integration/apps_test.sh test/integration/apps_ejabberd_test.sh
EXTRA_DIST += test/integration/apps_test.sh test/integration/apps_run.py \
	test/integration/apps_ejabberd_test.sh
