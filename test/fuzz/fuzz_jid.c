/*
 * libFuzzer target for xml/jid.c: whatever parses must be within the part
 * limits and parse again to the same normalised JID.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xml/jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jid *j, *k;
	char *s;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if ((j = jid_parse(s, NULL)) != NULL) {
		if (strlen(jid_domain(j)) > JID_PART_MAX ||
		    (jid_local(j) && strlen(jid_local(j)) > JID_PART_MAX) ||
		    (jid_resource(j) && strlen(jid_resource(j)) > JID_PART_MAX) ||
		    strncmp(jid_full(j), jid_bare(j), strlen(jid_bare(j))) != 0)
			abort();
		if ((k = jid_parse(jid_full(j), NULL)) == NULL ||
		    jid_compare(j, k) != 0 || !jid_bare_equal(j, k))
			abort();
		jid_free(&k);
		jid_free(&j);
	}
	free(s);
	return 0;
}
