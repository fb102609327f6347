# test/rest.mk: the HTTPS endpoint and the certificate watch.
TESTS += test/integration/rest_test.sh test/integration/certwatch_test.sh \
	test/integration/certwatch_prosody_test.sh
EXTRA_DIST += test/integration/rest_test.sh test/integration/rest_run.py \
	test/integration/certwatch_test.sh test/integration/certwatch_run.py \
	test/integration/certwatch_prosody_test.sh

# The Prometheus rules and Grafana dashboard of conf/alerting/.
TESTS += test/integration/alerting_test.sh
EXTRA_DIST += test/integration/alerting_test.sh \
	test/integration/alerting_run.py test/alerting/xpushd.rules.test.yml
