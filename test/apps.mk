# The Tigase apps, Stork and Siskin, unmodified, end to end through a real
# XMPP server (issue 19).
TESTS += test/integration/apps_test.sh
EXTRA_DIST += test/integration/apps_test.sh test/integration/apps_run.py
