# plugins/: the provider modules and what they share.

# libxpplug: the support library of every module (allocation, buffer,
# JSON writer, base64url, OpenSSL error text, ES256); PIC because it ends up
# inside shared objects.
noinst_LTLIBRARIES += plugins/lib/libxpplug.la
plugins_lib_libxpplug_la_SOURCES = plugins/lib/pu.h \
	plugins/lib/alloc.c plugins/lib/buf.c plugins/lib/json.c \
	plugins/lib/b64url.c plugins/lib/sslerr.c plugins/lib/utf8.c \
	plugins/lib/es256.c
plugins_lib_libxpplug_la_CFLAGS = $(AM_CFLAGS) -fPIC

# libxph2: the HTTP/2 client of the APNs modules.
noinst_LTLIBRARIES += plugins/h2/libxph2.la
plugins_h2_libxph2_la_SOURCES = plugins/h2/h2.c plugins/h2/h2.h
plugins_h2_libxph2_la_CFLAGS = $(AM_CFLAGS) -fPIC

# Modules resolve nothing from xpushd: everything they use is linked in,
# and only xpushd_provider is exported.
XP_MODULE_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-no-undefined -export-symbols-regex '^xpushd_provider$$'

# apns.so and apns-voip.so: one source, built twice.
XP_APNS_SRCS = plugins/apns.c plugins/apns_auth.c plugins/apns_auth.h \
	plugins/apns_payload.c plugins/apns_payload.h plugins/provider.h
XP_APNS_LIBS = plugins/h2/libxph2.la plugins/lib/libxpplug.la \
	$(OPENSSL_LIBS) $(NGHTTP2_LIBS) $(LIBEVENT_LIBS) $(JSONC_LIBS)
pkglib_LTLIBRARIES += plugins/apns.la plugins/apns-voip.la
plugins_apns_la_SOURCES = $(XP_APNS_SRCS)
plugins_apns_la_LIBADD = $(XP_APNS_LIBS)
plugins_apns_la_LDFLAGS = $(XP_MODULE_LDFLAGS)
plugins_apns_voip_la_SOURCES = $(XP_APNS_SRCS)
plugins_apns_voip_la_CPPFLAGS = $(AM_CPPFLAGS) -DAPNS_VOIP_ONLY
plugins_apns_voip_la_LIBADD = $(XP_APNS_LIBS)
plugins_apns_voip_la_LDFLAGS = $(XP_MODULE_LDFLAGS)

# fcm.so: FCM HTTP v1 with OAuth2; libcurl's multi handle runs on the
# host's event base.
pkglib_LTLIBRARIES += plugins/fcm.la
plugins_fcm_la_SOURCES = plugins/fcm.c plugins/fcm.h plugins/fcm_auth.c \
	plugins/fcm_curl.c plugins/provider.h
plugins_fcm_la_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS) $(OPENSSL_CFLAGS) \
	$(JSONC_CFLAGS) $(LIBEVENT_CFLAGS)
plugins_fcm_la_LDFLAGS = $(XP_MODULE_LDFLAGS)
plugins_fcm_la_LIBADD = plugins/lib/libxpplug.la $(CURL_LIBS) \
	$(OPENSSL_LIBS) $(JSONC_LIBS) $(LIBEVENT_LIBS)

# webpush.so: Web Push (RFC 8030, 8291, 8292) over the same libcurl multi
# handle on the event loop as fcm.so (fcm_curl.c).
XP_WEBPUSH_CRYPTO = plugins/webpush_crypto.c plugins/webpush.h
pkglib_LTLIBRARIES += plugins/webpush.la
plugins_webpush_la_SOURCES = plugins/webpush.c $(XP_WEBPUSH_CRYPTO) \
	plugins/fcm_curl.c plugins/fcm.h plugins/provider.h
plugins_webpush_la_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS) \
	$(OPENSSL_CFLAGS) $(JSONC_CFLAGS) $(LIBEVENT_CFLAGS)
plugins_webpush_la_LDFLAGS = $(XP_MODULE_LDFLAGS)
plugins_webpush_la_LIBADD = plugins/lib/libxpplug.la $(CURL_LIBS) \
	$(OPENSSL_LIBS) $(JSONC_LIBS) $(LIBEVENT_LIBS)

# xpushd-vapid: prints (and with -g makes) a webpush block's VAPID key.
sbin_PROGRAMS += xpushd-vapid
dist_man_MANS += man/xpushd-vapid.8
xpushd_vapid_SOURCES = plugins/xpushd_vapid.c $(XP_WEBPUSH_CRYPTO)
xpushd_vapid_CPPFLAGS = $(AM_CPPFLAGS) $(OPENSSL_CFLAGS) $(JSONC_CFLAGS)
xpushd_vapid_LDADD = plugins/lib/libxpplug.la $(OPENSSL_LIBS) $(JSONC_LIBS)
