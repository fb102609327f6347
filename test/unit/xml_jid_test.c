/*
 * xml/jid.c: RFC 7622 parsing, validation and normalisation.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "test/lib/tap.h"
#include "xml/jid.h"

struct good {
	const char *in, *local, *domain, *resource, *bare, *full;
};

static const struct good goods[] = {
	{ "example.org", NULL, "example.org", NULL, "example.org",
	  "example.org" },
	{ "Alice@Example.ORG", "alice", "example.org", NULL,
	  "alice@example.org", "alice@example.org" },
	{ "alice@example.org/Phone 1", "alice", "example.org", "Phone 1",
	  "alice@example.org", "alice@example.org/Phone 1" },
	{ "alice@example.org./r", "alice", "example.org", "r",
	  "alice@example.org", "alice@example.org/r" },
	{ "example.org/a@b/c", NULL, "example.org", "a@b/c", "example.org",
	  "example.org/a@b/c" },
	{ "push.localhost", NULL, "push.localhost", NULL, "push.localhost",
	  "push.localhost" },
	{ "bob@[2001:DB8::1]/res", "bob", "[2001:db8::1]", "res",
	  "bob@[2001:db8::1]", "bob@[2001:db8::1]/res" },
	{ "u@192.0.2.1", "u", "192.0.2.1", NULL, "u@192.0.2.1",
	  "u@192.0.2.1" },
	{ "jürgen@münchen.example/Grüße", "jürgen", "münchen.example",
	  "Grüße", "jürgen@münchen.example", "jürgen@münchen.example/Grüße" },
	{ "bob@localhost/n244BE9ZjrcI", "bob", "localhost", "n244BE9ZjrcI",
	  "bob@localhost", "bob@localhost/n244BE9ZjrcI" },
};

static const char *const bads[] = {
	"", "@example.org", "alice@", "alice@example.org/", "/res",
	"al ice@example.org", "al\"ice@example.org", "al&ice@example.org",
	"al'ice@example.org", "al:ice@example.org", "al<ice@example.org",
	"al>ice@example.org", "alice@exa mple.org", "alice@example..org",
	"alice@.example.org", "alice@.", "alice@example.org..",
	"alice@[::1", "alice@[not:an:address]", "alice@exa:mple.org",
	"a@b/\x01", "\x7f@b", "caf\xc3\x28@example.org", "a@\xc0\xafx",
	"a@b/\xed\xa0\x80", "a@b/\xf4\x90\x80\x80",
};

static char *
repeat_char(char c, size_t n, const char *suffix)
{
	char *p = malloc(n + strlen(suffix) + 1);

	memset(p, c, n);
	strcpy(p + n, suffix);
	return p;
}

int
main(void)
{
	struct jid *j, *k;
	const char *err;
	char *s, *t;
	size_t i;

	for (i = 0; i < sizeof(goods) / sizeof(*goods); i++) {
		const struct good *g = &goods[i];

		j = jid_parse(g->in, &err);
		if (!ok(j != NULL, "valid: %s", g->in)) {
			diag("error: %s", err);
			continue;
		}
		is_str(jid_local(j), g->local, "%s: local", g->in);
		is_str(jid_domain(j), g->domain, "%s: domain", g->in);
		is_str(jid_resource(j), g->resource, "%s: resource", g->in);
		is_str(jid_bare(j), g->bare, "%s: bare", g->in);
		is_str(jid_full(j), g->full, "%s: full", g->in);
		ok(jid_is_bare(j) == (g->resource == NULL), "%s: is_bare",
		    g->in);
		jid_free(&j);
		ok(j == NULL, "jid_free clears the pointer");
	}
	for (i = 0; i < sizeof(bads) / sizeof(*bads); i++) {
		j = jid_parse(bads[i], &err);
		ok(j == NULL && err != NULL, "invalid: #%zu (%s)", i,
		    err ? err : "accepted");
		jid_free(&j);
	}
	ok(jid_parse(NULL, &err) == NULL, "NULL is refused");

	/* Part lengths: 1023 bytes each is the most. */
	s = repeat_char('a', 1023, "@example.org");
	ok(jid_valid(s), "1023-byte localpart");
	free(s);
	s = repeat_char('a', 1024, "@example.org");
	ok(!jid_valid(s), "1024-byte localpart");
	free(s);
	s = repeat_char('r', 1023, "");
	t = malloc(strlen(s) + 20);
	sprintf(t, "a@example.org/%s", s);
	ok(jid_valid(t), "1023-byte resourcepart");
	sprintf(t, "a@example.org/%sr", s);
	ok(!jid_valid(t), "1024-byte resourcepart");
	free(t);
	free(s);
	s = repeat_char('d', 1023, "");
	ok(jid_valid(s), "1023-byte domainpart");
	free(s);
	s = repeat_char('d', 1024, "");
	ok(!jid_valid(s), "1024-byte domainpart");
	free(s);

	j = jid_parse("Alice@Example.org/phone", NULL);
	k = jid_parse("alice@example.org./tablet", NULL);
	ok(jid_bare_equal(j, k), "bare JIDs compare equal after folding");
	ok(jid_compare(j, k) != 0, "full JIDs differ by resource");
	jid_free(&k);
	k = jid_parse("ALICE@EXAMPLE.ORG/phone", NULL);
	ok(jid_compare(j, k) == 0, "full JIDs equal after folding");
	jid_free(&k);
	k = jid_parse("alice@example.org/Phone", NULL);
	ok(jid_compare(j, k) != 0, "resources are case-sensitive");
	jid_free(&k);
	jid_free(&j);
	return tap_done();
}
