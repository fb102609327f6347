/*
 * Helpers shared by the xml/ unit tests.  Fixtures are found under
 * $top_srcdir (set by the test harness), or "." when it is unset.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/unit/xml_common.h"

__attribute__((noreturn)) static void
bail(const char *what, const char *path)
{
	printf("Bail out! %s %s\n", what, path);
	exit(1);
}

char *
fixture_read(const char *relpath, size_t *len_r)
{
	const char *top = getenv("top_srcdir");
	char path[4096];
	FILE *fp;
	char *data;
	long n;

	snprintf(path, sizeof(path), "%s/%s", top ? top : ".", relpath);
	if ((fp = fopen(path, "rb")) == NULL)
		bail("cannot open", path);
	if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0)
		bail("cannot size", path);
	if ((data = malloc((size_t)n + 1)) == NULL)
		bail("out of memory for", path);
	if (fread(data, 1, (size_t)n, fp) != (size_t)n)
		bail("cannot read", path);
	fclose(fp);
	data[n] = '\0';
	*len_r = (size_t)n;
	return data;
}

/*
 * The stanza in a fixture: the captured Prosody publishes start with an XML
 * comment line, which a stream parser must refuse, so it is dropped.
 */
char *
fixture_stanza(const char *relpath, size_t *len_r)
{
	char *data, *nl;
	size_t len;

	data = fixture_read(relpath, &len);
	if (strncmp(data, "<!--", 4) == 0 && (nl = strchr(data, '\n')) != NULL) {
		len -= (size_t)(nl + 1 - data);
		memmove(data, nl + 1, len + 1);
	}
	*len_r = len;
	return data;
}

char *
fixture_wrap(const char *stanza, size_t len, size_t *len_r)
{
	size_t hl = strlen(TEST_STREAM_HEAD), tl = strlen(TEST_STREAM_TAIL);
	char *p;

	if ((p = malloc(hl + len + tl + 1)) == NULL)
		bail("out of memory", "");
	memcpy(p, TEST_STREAM_HEAD, hl);
	memcpy(p + hl, stanza, len);
	memcpy(p + hl + len, TEST_STREAM_TAIL, tl + 1);
	*len_r = hl + len + tl;
	return p;
}

static int
fixture_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .xml files of a fixture directory, sorted, as relative paths. */
char **
fixture_list(const char *reldir, size_t *n_r)
{
	const char *top = getenv("top_srcdir");
	char path[4096], **v = NULL;
	struct dirent *de;
	size_t n = 0, l;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", top ? top : ".", reldir);
	if ((d = opendir(path)) == NULL)
		bail("cannot open", path);
	while ((de = readdir(d)) != NULL) {
		l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".xml") != 0)
			continue;
		if ((v = realloc(v, (n + 1) * sizeof(*v))) == NULL ||
		    (v[n] = malloc(strlen(reldir) + l + 2)) == NULL)
			bail("out of memory", "");
		sprintf(v[n++], "%s/%s", reldir, de->d_name);
	}
	closedir(d);
	qsort(v, n, sizeof(*v), fixture_cmp);
	*n_r = n;
	return v;
}

void
fixture_list_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
collect_init(struct collect *c)
{
	memset(c, 0, sizeof(*c));
	xml_buf_init(&c->out);
}

void
collect_free(struct collect *c)
{
	size_t i;

	for (i = 0; i < c->nstanzas; i++)
		xml_node_free(&c->stanzas[i]);
	free(c->stanzas);
	xml_buf_free(&c->out);
	memset(c, 0, sizeof(*c));
}

static void
collect_open(struct collect *c, const struct xml_stream_header *h)
{
	c->opens++;
	snprintf(c->id, sizeof(c->id), "%s", h->id ? h->id : "");
	snprintf(c->lang, sizeof(c->lang), "%s", h->lang ? h->lang : "");
}

static void
collect_stanza(struct collect *c, struct xml_node *n)
{
	xml_node_serialize_with_default_ns(n, XML_STREAM_COMPONENT_NS,
	    &c->out);
	xml_buf_append_char(&c->out, '\n');
	c->stanzas = realloc(c->stanzas, (c->nstanzas + 1) * sizeof(n));
	if (c->stanzas == NULL)
		abort();
	c->stanzas[c->nstanzas++] = n;
}

static void
collect_error(struct collect *c, enum xml_stream_cond cond, const char *text)
{
	c->errors++;
	c->cond = cond;
	snprintf(c->errtext, sizeof(c->errtext), "%s", text);
}

void
collect_events(struct collect *c, struct xml_stream *s)
{
	struct xml_stream_event ev;

	while (xml_stream_next(s, &ev) != XML_STREAM_EV_NONE)
		switch (ev.type) {
		case XML_STREAM_EV_OPEN:
			collect_open(c, ev.header);
			break;
		case XML_STREAM_EV_STANZA:
			collect_stanza(c, ev.stanza);
			break;
		case XML_STREAM_EV_CLOSE:
			c->closes++;
			break;
		case XML_STREAM_EV_ERROR:
			collect_error(c, ev.cond, ev.text);
			break;
		case XML_STREAM_EV_NONE:
			break;
		}
}

int
collect_feed(struct collect *c, struct xml_stream *s, const char *data,
    size_t len)
{
	size_t used;
	int rc;

	do {
		rc = xml_stream_feed(s, data, len, &used);
		collect_events(c, s);
		data += used;
		len -= used;
	} while (len > 0 && rc == 0);
	return rc;
}

void
collect_parse(struct collect *c, const struct xml_stream_limits *lim,
    const char *data, size_t len, size_t chunk)
{
	struct xml_stream *s;
	size_t off, n;

	s = xml_stream_new(XML_STREAM_COMPONENT_NS, lim);
	if (chunk == 0)
		chunk = len;
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		if (collect_feed(c, s, data + off, n) != 0)
			break;
	}
	xml_stream_free(&s);
}
