# test/rest.mk: the HTTPS endpoint and the certificate watch (issue 10).
TESTS += test/rest_test.sh
EXTRA_DIST += test/rest_test.sh test/rest_test.py
