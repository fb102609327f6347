/*
 * libFuzzer target for webpush.so's subscription check (wp_sub_parse, the
 * device token of register-device, from any user): whatever it accepts
 * has an https endpoint within the bounds, an origin that the endpoint
 * starts with (case aside), a point on P-256, and encrypts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugins/webpush.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pu_buf out = { 0 };
	struct wp_sub s;
	char *json, *err = NULL;

	if ((json = malloc(size + 1)) == NULL)
		return 0;
	memcpy(json, data, size);
	json[size] = '\0';
	if (wp_sub_parse(json, true, &s, &err) == 0) {
		if (strncasecmp(s.endpoint, "https://", 8) != 0 ||
		    strlen(s.endpoint) > WP_ENDPOINT_MAX || size > WP_SUB_MAX ||
		    strncasecmp(s.endpoint, s.origin, strlen(s.origin)) != 0 ||
		    s.p256dh[0] != 0x04)
			abort();
		if (wp_encrypt(s.p256dh, s.auth, "{}", 2, 0, NULL, NULL, &out,
		    &err) == -1 || out.len != WP_HEADER_LEN + 3 + WP_TAG_LEN)
			abort();
		pu_buf_free(&out);
		wp_sub_free(&s);
	} else if (err == NULL || *err == '\0')
		abort();
	free(err);
	free(json);
	return 0;
}
