# plugins/: the provider modules and the HTTP/2 client library they share.

# APNs: the HTTP/2 client library, apns.so and apns-voip.so.
# libxph2: the HTTP/2 client and module helpers, linked into the modules
# (PIC because it ends up inside shared objects).
noinst_LTLIBRARIES += plugins/h2/libxph2.la
plugins_h2_libxph2_la_SOURCES = \
	plugins/h2/h2.c plugins/h2/h2.h \
	plugins/h2/util.c plugins/h2/util.h
plugins_h2_libxph2_la_CFLAGS = $(AM_CFLAGS) -fPIC

XP_APNS_SRCS = plugins/apns.c plugins/apns_auth.c plugins/apns_auth.h \
	plugins/apns_payload.c plugins/apns_payload.h plugins/provider.h
XP_APNS_LIBS = plugins/h2/libxph2.la $(OPENSSL_LIBS) $(NGHTTP2_LIBS) \
	$(LIBEVENT_LIBS) $(JSONC_LIBS)
# Modules resolve nothing from xpushd: everything they use is linked in.
XP_MODULE_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-no-undefined -export-symbols-regex '^xpushd_provider$$'

pkglib_LTLIBRARIES += plugins/apns.la plugins/apns-voip.la
plugins_apns_la_SOURCES = $(XP_APNS_SRCS)
plugins_apns_la_LIBADD = $(XP_APNS_LIBS)
plugins_apns_la_LDFLAGS = $(XP_MODULE_LDFLAGS)
plugins_apns_voip_la_SOURCES = $(XP_APNS_SRCS)
plugins_apns_voip_la_CPPFLAGS = $(AM_CPPFLAGS) -DAPNS_VOIP_ONLY
plugins_apns_voip_la_LIBADD = $(XP_APNS_LIBS)
plugins_apns_voip_la_LDFLAGS = $(XP_MODULE_LDFLAGS)

# FCM: fcm.so, Firebase Cloud Messaging HTTP v1 with OAuth2.
# Only xpushd_provider is exported; libcurl's multi handle runs on the
# host's event base.
pkglib_LTLIBRARIES += plugins/fcm.la
plugins_fcm_la_SOURCES = plugins/fcm.c plugins/fcm.h plugins/fcm_auth.c \
	plugins/fcm_curl.c plugins/provider.h
plugins_fcm_la_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS) $(OPENSSL_CFLAGS) \
	$(JSONC_CFLAGS) $(LIBEVENT_CFLAGS)
plugins_fcm_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-no-undefined -export-symbols-regex '^xpushd_provider$$'
plugins_fcm_la_LIBADD = $(CURL_LIBS) $(OPENSSL_LIBS) $(JSONC_LIBS) \
	$(LIBEVENT_LIBS)
