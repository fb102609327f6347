# test/rest.mk: the HTTPS endpoint and the certificate watch.
TESTS += test/rest_test.sh test/certwatch_test.sh \
	test/certwatch_prosody_test.sh
EXTRA_DIST += test/rest_test.sh test/rest_run.py \
	test/certwatch_test.sh test/certwatch_run.py \
	test/certwatch_prosody_test.sh
