# test/rest.mk: the HTTPS endpoint and the certificate watch.
TESTS += test/integration/rest_test.sh test/integration/certwatch_test.sh \
	test/integration/certwatch_prosody_test.sh
EXTRA_DIST += test/integration/rest_test.sh test/integration/rest_run.py \
	test/integration/certwatch_test.sh test/integration/certwatch_run.py \
	test/integration/certwatch_prosody_test.sh
