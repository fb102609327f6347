#!/bin/sh
# fcm.so against the C FCM mock (test/mock/fcm_mock, the benchmark's): the
# whole of test/integration/fcm_test, so the mock is held to what the Python
# mock does.
FCM_MOCK="$top_builddir/test/mock/fcm_mock"
export FCM_MOCK
exec sh "$top_srcdir/test/integration/fcm_test.sh"
