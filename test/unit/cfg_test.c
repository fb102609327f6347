/*
 * The configuration language (core/cfg.c) and its validation against the
 * settings table (core/options.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cfg.h"
#include "core/options.h"
#include "test/lib/tap.h"

static char fixdir[1024];

static struct cfg_file *
parse(const char *text, char **err)
{
	*err = NULL;
	return cfg_parse_string("t.conf", text, strlen(text), err);
}

/* The text must fail to parse with exactly this message. */
static void
parse_fails(const char *text, const char *want)
{
	struct cfg_file *cf;
	char *err;

	cf = parse(text, &err);
	ok(cf == NULL, "refused: %s", want);
	is_str(err, want, "message: %s", want);
	free(err);
	cfg_free(&cf);
}

static void
load_fails(const char *text, const char *want)
{
	struct xp_conf *conf;
	char *err = NULL;

	conf = conf_load_string("t.conf", text, options_check_provider_basic,
	    &err);
	ok(conf == NULL, "not loaded: %s", want);
	ok(err != NULL && strstr(err, want) != NULL, "error says '%s'", want);
	if (err != NULL && strstr(err, want) == NULL)
		diag("got: %s", err);
	free(err);
	conf_free(&conf);
}

static void
test_tigase_fixtures(void)
{
	const char *files[] = { "tigase-empty.conf", "tigase-fcm-legacy.conf",
	    "tigase-fcm-pool.conf", "tigase-apns.conf" };
	const struct cfg_node *push, *prov, *n;
	struct cfg_file *cf;
	char path[1200], *err;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fixdir, files[i]);
		err = NULL;
		cf = cfg_parse_file(path, &err);
		ok(cf != NULL, "Tigase example %s parses", files[i]);
		if (cf == NULL) {
			diag("%s", err);
			free(err);
			continue;
		}
		push = cfg_find(cf->root, "push");
		ok(push != NULL && cfg_is_block(push), "%s: push block",
		    files[i]);
		if (strcmp(files[i], "tigase-apns.conf") == 0) {
			prov = cfg_find(push->children, "apns-binary-api");
			ok(prov != NULL, "apns-binary-api block");
			n = prov ? cfg_find(prov->children, "cert-password")
			    : NULL;
			is_str(n ? n->value->str : NULL, "Pa$$w0rd",
			    "'$' needs no escape");
			n = prov ? cfg_find(prov->children, "apns-topic") : NULL;
			is_str(n ? n->value->str : NULL, "com.bundle.id",
			    "apns-topic");
		}
		if (strcmp(files[i], "tigase-fcm-pool.conf") == 0) {
			prov = cfg_find(push->children, "fcm-xmpp-api");
			n = prov ? cfg_find(prov->children, "pool-size") : NULL;
			ok(n && n->value->type == CFG_INTEGER &&
			    n->value->num == 5, "pool-size = 5");
		}
		cfg_free(&cf);
		ok(cf == NULL, "cfg_free clears the pointer");
	}
}

static void
test_full(void)
{
	const struct cfg_node *n, *push, *apns;
	const struct cfg_value *const *items;
	struct xp_conf *conf;
	struct cfg_file *cf;
	char path[1200], *err = NULL;

	setenv("XPUSHD_TEST_SECRET", "s3cr3t 'with' quotes", 1);
	snprintf(path, sizeof(path), "%s/full.conf", fixdir);
	cf = cfg_parse_file(path, &err);
	ok(cf != NULL, "full.conf parses");
	if (cf == NULL) {
		diag("%s", err);
		free(err);
		return;
	}
	n = cfg_find(cf->root, "admins");
	ok(n && n->value->type == CFG_LIST && n->value->nitems == 2,
	    "a list over two lines with a trailing comma");
	if (n && n->value->nitems == 2) {
		is_str(n->value->items[0]->str, "admin@example.com", "item 0");
		is_str(n->value->items[1]->str, "ops@example.com",
		    "item 1, double-quoted");
	}
	push = cfg_find(cf->root, "push");
	ok(push && push->params && strcmp(push->params->key, "class") == 0,
	    "block parameters are kept");
	is_str(push && push->params ? push->params->value->str : NULL,
	    "tigase.push.PushNotificationsComponent", "a bare class name");
	apns = push ? cfg_find(push->children, "apns-binary-api") : NULL;
	n = apns ? cfg_find(apns->children, "greeting") : NULL;
	is_str(n ? n->value->str : NULL,
	    "caf\xc3\xa9 'quoted' \\ tab\there \xe2\x80\x94 \xc3\xbc" "n\xc3\xaf" "code",
	    "escapes and UTF-8 in strings");
	n = apns ? cfg_find(apns->children, "pool-size") : NULL;
	ok(n && n->value->num == 2, "Tigase's L suffix on integers");
	n = apns ? cfg_find(apns->children, "sandbox") : NULL;
	ok(n && n->value->type == CFG_BOOLEAN && !n->value->boolean, "false");
	n = cfg_find(cf->root, "xmpp");
	n = n ? cfg_find(n->children, "secret") : NULL;
	is_str(n ? n->value->str : NULL, "s3cr3t 'with' quotes", "env()");
	cfg_free(&cf);

	conf = conf_load(path, options_check_provider_basic, &err);
	ok(conf != NULL, "full.conf validates");
	if (conf == NULL) {
		diag("%s", err);
		free(err);
		return;
	}
	is_str(conf_str(conf, "xmpp", "jid"), "push.example.com", "xmpp.jid");
	is_int(conf_int(conf, "xmpp", "port"), 5347, "xmpp.port");
	is_int(conf_int(conf, "database", "pool-size"), 4, "set pool-size");
	is_str(conf_str(conf, "rest", "listen"), "127.0.0.1:8443",
	    "a default from the table when the block is absent");
	is_int(conf_list(conf, NULL, "admins", &items), 2, "admins");
	ok(conf_providers(conf) != NULL &&
	    strcmp(conf_providers(conf)->key, "apns-binary-api") == 0,
	    "providers in file order");
	ok(conf_block_active(conf_providers(conf)), "blocks are active");
	conf_free(&conf);
	ok(conf == NULL, "conf_free clears the pointer");
}

static void
test_values(void)
{
	struct cfg_file *cf;
	char *err;

	cf = parse("a = 1; b = -42\nc = 'x' ; d = true\n", &err);
	ok(cf != NULL, "several statements on a line with ';'");
	ok(cf && cfg_find(cf->root, "b")->value->num == -42, "negative");
	cfg_free(&cf);

	cf = parse("a = 'one'\na = 'two'\n", &err);
	is_str(cf ? cfg_find(cf->root, "a")->value->str : NULL, "two",
	    "cfg_find returns the last assignment");
	cfg_free(&cf);

	cf = parse("x () { y () { z () { k = [ [ 1, 2 ], [] ] } } }", &err);
	ok(cf != NULL, "nested blocks and lists on one line");
	cfg_free(&cf);

	cf = parse("/* a */ # b\n// c\n/* multi\nline */ k = 1 # d\n", &err);
	ok(cf != NULL && cf->root && cf->root->value->num == 1,
	    "all three comment kinds");
	cfg_free(&cf);

	cf = parse("\xef\xbb\xbfk = 'v'\n", &err);
	ok(cf != NULL, "a byte order mark is skipped");
	cfg_free(&cf);

	cf = parse("k = '\\u00e9\\u20ac'\n", &err);
	is_str(cf ? cf->root->value->str : NULL, "\xc3\xa9\xe2\x82\xac",
	    "\\u escapes become UTF-8");
	cfg_free(&cf);

	cf = parse("", &err);
	ok(cf != NULL && cf->root == NULL, "an empty file");
	cfg_free(&cf);

	cf = parse("blk { k = 1 }", &err);
	ok(cf != NULL, "a block without ()");
	cfg_free(&cf);
}

static void
test_errors(void)
{
	unsetenv("XPUSHD_NOT_SET");
	parse_fails("k = \n", "t.conf:1:5: expected a value");
	parse_fails("k = 'abc\n", "t.conf:1:5: string is never closed");
	parse_fails("a = 1\n  b 2\n",
	    "t.conf:2:5: expected '=' or '{' after 'b', found '2'");
	parse_fails("a = 1 2\n",
	    "t.conf:1:7: expected the end of the statement after 'a', found '2'");
	parse_fails("x () {\n  k = 1\n",
	    "t.conf:1:6: block is never closed");
	parse_fails("}\n", "t.conf:1:1: '}' without a block");
	parse_fails("k = [ 1, 2\n", "t.conf:1:5: list is never closed");
	parse_fails("k = [ 1 2 ]\n",
	    "t.conf:1:9: expected ',' or ']' in list, found '2'");
	parse_fails("k = yes\n", "t.conf:1:5: unquoted word 'yes' is not a "
	    "value: quote strings with '...'");
	parse_fails("k = 99999999999999999999\n",
	    "t.conf:1:5: number '99999999999999999999' is out of range");
	parse_fails("k = 12abc\n", "t.conf:1:5: malformed number");
	parse_fails("k = env('XPUSHD_NOT_SET')\n",
	    "t.conf:1:5: environment variable XPUSHD_NOT_SET is not set");
	parse_fails("k = env(XPUSHD_NOT_SET)\n",
	    "t.conf:1:9: env() takes the variable's name as a quoted string");
	parse_fails("k = 'a\\qb'\n", "t.conf:1:8: unknown escape '\\q' in string");
	parse_fails("k = '\\u12'\n", "t.conf:1:10: \\u needs four hex digits");
	parse_fails("k = '\xc3\x28'\n", "t.conf:1:5: string is not valid UTF-8");
	parse_fails("k = '\xed\xa0\x80'\n",
	    "t.conf:1:5: string is not valid UTF-8");
	parse_fails("/* open\n\n", "t.conf:1:1: comment is never closed");
	parse_fails("é = 1\n", "t.conf:1:1: expected a key, found '\xc3'");
	parse_fails("\xc3\xa9\xc3\xa9 = 1\n",
	    "t.conf:1:1: expected a key, found '\xc3'");
	parse_fails("k = 'x' é\n",
	    "t.conf:1:9: expected the end of the statement after 'k', found '\xc3'");
	parse_fails("b (x 1) { }\n",
	    "t.conf:1:6: expected ':' after parameter 'x'");
	parse_fails("a{b{c{d{e{f{g{h{i{j{k{l{m{n{o{p{q{}}}}}}}}}}}}}}}}}\n",
	    "t.conf:1:33: blocks nested deeper than 16");
	{
		struct cfg_file *cf;
		char *err = NULL;

		cf = cfg_parse_file("/nonexistent/xpushd.conf", &err);
		ok(cf == NULL && err && strstr(err,
		    "/nonexistent/xpushd.conf: No such file") == err,
		    "a missing file names itself");
		free(err);
	}
}

#define MINIMAL "xmpp () { jid = 'p.example'; secret = 's' }\n" \
	"database () { uri = 'postgresql:///x' }\n"

static void
test_validation(void)
{
	struct xp_conf *conf;
	char *err = NULL;

	conf = conf_load_string("t.conf", MINIMAL, NULL, &err);
	ok(conf != NULL, "the minimal configuration");
	is_int(conf_int(conf, "xmpp", "port"), 5347, "default port");
	is_str(conf_str(conf, "xmpp", "host"), "127.0.0.1", "default host");
	ok(conf_providers(conf) == NULL, "no providers");
	conf_free(&conf);

	load_fails(MINIMAL "colour = 'red'\n",
	    "t.conf:3:1: unknown key 'colour'");
	load_fails("xmpp () { jid = 'p'; secret = 's'; prot = 1 }\n"
	    "database () { uri = 'x' }\n",
	    "t.conf:1:36: unknown key 'prot' in xmpp ()");
	load_fails("xmpp () { jid = 'p'; secret = 's'; port = 70000 }\n"
	    "database () { uri = 'x' }\n",
	    "t.conf:1:43: 'port' must be between 1 and 65535, not 70000");
	load_fails("xmpp () { jid = 'p'; secret = 's'; port = '5347' }\n"
	    "database () { uri = 'x' }\n",
	    "t.conf:1:43: 'port' takes an integer, not a string");
	load_fails("xmpp () { jid = 'p' }\ndatabase () { uri = 'x' }\n",
	    "t.conf: missing key 'secret' in xmpp ()");
	load_fails("database () { uri = 'x' }\n",
	    "t.conf: missing block 'xmpp'");
	load_fails(MINIMAL "xmpp = 'x'\n", "'xmpp' is set twice");
	load_fails(MINIMAL "admins = [ 1 ]\n",
	    "t.conf:3:12: 'admins' holds strings only, not an integer");
	load_fails(MINIMAL "push () { k = 1 }\n",
	    "t.conf:3:11: push () holds provider blocks");
	load_fails(MINIMAL "push () { 'fcm-xmpp-api' () { 'pool-size' = 5 } }\n",
	    "provider 'fcm-xmpp-api' used Google's legacy FCM API");
	load_fails(MINIMAL "push () { a () {}\n a () {} }\n",
	    "t.conf:4:2: provider 'a' is configured twice");
	load_fails(MINIMAL "push (colour: 'red') { }\n",
	    "t.conf:3:7: unknown block parameter 'colour'");

	conf = conf_load_string("t.conf", MINIMAL
	    "push (class: x.Y) { 'p' (active: false) { } }\n", NULL, &err);
	ok(conf != NULL && !conf_block_active(conf_providers(conf)),
	    "(active: false) is read");
	conf_free(&conf);
}

int
main(void)
{
	const char *top = getenv("top_srcdir");

	snprintf(fixdir, sizeof(fixdir), "%s/test/fixtures/conf",
	    top ? top : ".");
	test_tigase_fixtures();
	test_full();
	test_values();
	test_errors();
	test_validation();
	return tap_done();
}
