/*
 * A hand-written recursive-descent parser for the Tigase DSL subset in
 * config.h.  Deviations from Tigase, all on the side of being liberal:
 * double-quoted strings are accepted as well as single-quoted ones, a block
 * may omit its "()" and an integer may carry Tigase's "L" suffix.  A missing
 * env() variable is an error that names it, never an empty string.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cfg.h"
#include "core/xmalloc.h"

#define CFG_MAX_FILE_SIZE	(4 * 1024 * 1024)
#define CFG_MAX_DEPTH		16
#define CFG_MAX_STRING		(1024 * 1024)

struct parser {
	const char	*name;		/* points into cfg_file->path */
	const char	*p, *end;
	int		 line, col;
	int		 depth;
	char		*error;		/* first error wins */
};

static struct cfg_node	*parse_stmts(struct parser *, bool);
static struct cfg_value	*parse_value(struct parser *);
static void		 value_free(struct cfg_value *);
static void		 nodes_free(struct cfg_node *);

static void __attribute__((format(printf, 4, 5)))
perr(struct parser *ps, int line, int col, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (ps->error != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	xasprintf(&ps->error, "%s:%d:%d: %s", ps->name, line, col, msg);
}

static int
peekc(struct parser *ps)
{
	return ps->p < ps->end ? (unsigned char)*ps->p : -1;
}

static int
peekc2(struct parser *ps)
{
	return ps->p + 1 < ps->end ? (unsigned char)ps->p[1] : -1;
}

static int
getc_(struct parser *ps)
{
	int c;

	if (ps->p >= ps->end)
		return -1;
	c = (unsigned char)*ps->p++;
	if (c == '\n') {
		ps->line++;
		ps->col = 1;
	} else if ((c & 0xc0) != 0x80)	/* count UTF-8 characters, not bytes */
		ps->col++;
	return c;
}

/*
 * Skip blanks and comments.  Newlines are skipped only when "newlines" is
 * set: elsewhere they end a statement.
 */
static void
skip_space(struct parser *ps, bool newlines)
{
	int c, line, col;

	for (;;) {
		c = peekc(ps);
		if (c == ' ' || c == '\t' || c == '\r' || c == '\f' ||
		    (newlines && c == '\n'))
			getc_(ps);
		else if (c == '#' || (c == '/' && peekc2(ps) == '/')) {
			while ((c = peekc(ps)) != -1 && c != '\n')
				getc_(ps);
		} else if (c == '/' && peekc2(ps) == '*') {
			line = ps->line;
			col = ps->col;
			getc_(ps);
			getc_(ps);
			for (;;) {
				c = getc_(ps);
				if (c == -1) {
					perr(ps, line, col,
					    "comment is never closed");
					return;
				}
				if (c == '*' && peekc(ps) == '/') {
					getc_(ps);
					break;
				}
			}
		} else
			return;
	}
}

static bool
is_ident_char(int c)
{
	return c != -1 && (isalnum(c) || c == '_' || c == '-' || c == '.');
}

static bool
is_ident_start(int c)
{
	return c != -1 && (isalpha(c) || c == '_');
}

/* Append one code point as UTF-8. */
static size_t
utf8_put(char *out, unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	} else if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	} else if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
bool
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + len;
	unsigned long cp;
	int n, i;

	while (p < e) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			n = 1;
			cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			n = 2;
			cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			n = 3;
			cp = *p & 0x07;
		} else
			return false;
		if (e - p <= n)
			return false;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

/*
 * A quoted string with the usual backslash escapes: \n \t \r \\ \' \" \$
 * and \uXXXX.  The text must be valid UTF-8 and hold no NUL.
 */
static char *
parse_string(struct parser *ps)
{
	int quote, c, line = ps->line, col = ps->col;
	size_t len = 0, cap = 64;
	char *buf;

	quote = getc_(ps);
	buf = xmalloc(cap);
	for (;;) {
		if (len + 8 > cap)
			buf = xrealloc(buf, cap *= 2);
		if (len > CFG_MAX_STRING) {
			perr(ps, line, col, "string is longer than %d bytes",
			    CFG_MAX_STRING);
			goto fail;
		}
		c = getc_(ps);
		if (c == -1 || c == '\n') {
			perr(ps, line, col, "string is never closed");
			goto fail;
		}
		if (c == quote)
			break;
		if (c == 0) {
			perr(ps, ps->line, ps->col - 1, "NUL byte in string");
			goto fail;
		}
		if (c != '\\') {
			buf[len++] = (char)c;
			continue;
		}
		c = getc_(ps);
		switch (c) {
		case 'n': buf[len++] = '\n'; break;
		case 't': buf[len++] = '\t'; break;
		case 'r': buf[len++] = '\r'; break;
		case '\\': case '\'': case '"': case '$':
			buf[len++] = (char)c;
			break;
		case 'u': {
			unsigned long cp = 0;
			int i, h;

			for (i = 0; i < 4; i++) {
				if ((h = peekc(ps)) == -1 || !isxdigit(h)) {
					perr(ps, ps->line, ps->col,
					    "\\u needs four hex digits");
					goto fail;
				}
				getc_(ps);
				cp = cp * 16 + (unsigned long)(isdigit(h) ?
				    h - '0' : tolower(h) - 'a' + 10);
			}
			if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) {
				perr(ps, ps->line, ps->col,
				    "\\u%04lx is not an allowed character", cp);
				goto fail;
			}
			len += utf8_put(buf + len, cp);
			break;
		}
		default:
			perr(ps, ps->line, ps->col - 1,
			    "unknown escape '\\%c' in string",
			    c == -1 ? '?' : c);
			goto fail;
		}
	}
	buf[len] = '\0';
	if (!utf8_valid(buf, len)) {
		perr(ps, line, col, "string is not valid UTF-8");
		goto fail;
	}
	return buf;
fail:
	free(buf);
	return NULL;
}

static char *
parse_ident(struct parser *ps)
{
	const char *start = ps->p;

	while (is_ident_char(peekc(ps)))
		getc_(ps);
	return xstrndup(start, (size_t)(ps->p - start));
}

/* A key: an identifier or a quoted string. */
static char *
parse_key(struct parser *ps)
{
	int c = peekc(ps);

	if (c == '\'' || c == '"')
		return parse_string(ps);
	if (is_ident_start(c))
		return parse_ident(ps);
	if (c == -1)
		perr(ps, ps->line, ps->col, "expected a key, found the end of the file");
	else
		perr(ps, ps->line, ps->col, "expected a key, found '%c'", c);
	return NULL;
}

static struct cfg_value *
value_new(struct parser *ps, enum cfg_type type, int line, int col)
{
	struct cfg_value *v = xcalloc(1, sizeof(*v));

	v->type = type;
	v->pos.file = ps->name;
	v->pos.line = line;
	v->pos.col = col;
	return v;
}

static struct cfg_value *
parse_integer(struct parser *ps)
{
	int line = ps->line, col = ps->col;
	const char *start = ps->p;
	struct cfg_value *v;
	char digits[32];
	long long n;
	char *end;
	size_t len;

	if (peekc(ps) == '-' || peekc(ps) == '+')
		getc_(ps);
	while (peekc(ps) != -1 && isdigit(peekc(ps)))
		getc_(ps);
	len = (size_t)(ps->p - start);
	if (peekc(ps) == 'L' || peekc(ps) == 'l')
		getc_(ps);
	if (is_ident_char(peekc(ps)) || len >= sizeof(digits)) {
		perr(ps, line, col, "malformed number");
		return NULL;
	}
	memcpy(digits, start, len);
	digits[len] = '\0';
	errno = 0;
	n = strtoll(digits, &end, 10);
	if (errno == ERANGE || *end != '\0' || end == digits) {
		perr(ps, line, col, "number '%s' is out of range", digits);
		return NULL;
	}
	v = value_new(ps, CFG_INTEGER, line, col);
	v->num = n;
	return v;
}

static struct cfg_value *
parse_list(struct parser *ps)
{
	struct cfg_value *list, *item;
	int line = ps->line, col = ps->col;

	getc_(ps);			/* '[' */
	list = value_new(ps, CFG_LIST, line, col);
	skip_space(ps, true);
	if (peekc(ps) == ']') {
		getc_(ps);
		return list;
	}
	for (;;) {
		skip_space(ps, true);
		if ((item = parse_value(ps)) == NULL)
			goto fail;
		list->items = xreallocarray(list->items, list->nitems + 1,
		    sizeof(*list->items));
		list->items[list->nitems++] = item;
		skip_space(ps, true);
		if (peekc(ps) == ',') {
			getc_(ps);
			skip_space(ps, true);
			if (peekc(ps) == ']') {	/* a trailing comma */
				getc_(ps);
				return list;
			}
			continue;
		}
		if (peekc(ps) == ']') {
			getc_(ps);
			return list;
		}
		if (peekc(ps) == -1)
			perr(ps, line, col, "list is never closed");
		else
			perr(ps, ps->line, ps->col,
			    "expected ',' or ']' in list, found '%c'", peekc(ps));
		goto fail;
	}
fail:
	value_free(list);
	return NULL;
}

/* env('NAME'): the variable must exist. */
static struct cfg_value *
parse_env(struct parser *ps, int line, int col)
{
	struct cfg_value *v;
	const char *val;
	char *name;

	skip_space(ps, false);
	if (peekc(ps) != '(') {
		perr(ps, ps->line, ps->col, "expected '(' after env");
		return NULL;
	}
	getc_(ps);
	skip_space(ps, false);
	if (peekc(ps) != '\'' && peekc(ps) != '"') {
		perr(ps, ps->line, ps->col,
		    "env() takes the variable's name as a quoted string");
		return NULL;
	}
	if ((name = parse_string(ps)) == NULL)
		return NULL;
	skip_space(ps, false);
	if (peekc(ps) != ')') {
		perr(ps, ps->line, ps->col, "expected ')' after env('%s'",
		    name);
		free(name);
		return NULL;
	}
	getc_(ps);
	if ((val = getenv(name)) == NULL) {
		perr(ps, line, col, "environment variable %s is not set", name);
		free(name);
		return NULL;
	}
	free(name);
	v = value_new(ps, CFG_STRING, line, col);
	v->str = xstrdup(val);
	return v;
}

static struct cfg_value *
parse_value(struct parser *ps)
{
	int c = peekc(ps), line = ps->line, col = ps->col;
	struct cfg_value *v;
	char *word, *s;

	if (c == '\'' || c == '"') {
		if ((s = parse_string(ps)) == NULL)
			return NULL;
		v = value_new(ps, CFG_STRING, line, col);
		v->str = s;
		return v;
	}
	if (c == '[')
		return parse_list(ps);
	if (c != -1 && (isdigit(c) || c == '-' || c == '+'))
		return parse_integer(ps);
	if (is_ident_start(c)) {
		word = parse_ident(ps);
		if (strcmp(word, "true") == 0 || strcmp(word, "false") == 0) {
			v = value_new(ps, CFG_BOOLEAN, line, col);
			v->boolean = word[0] == 't';
		} else if (strcmp(word, "env") == 0)
			v = parse_env(ps, line, col);
		else {
			perr(ps, line, col, "unquoted word '%s' is not a "
			    "value: quote strings with '...'", word);
			v = NULL;
		}
		free(word);
		return v;
	}
	if (c == -1 || c == '\n' || c == ';')
		perr(ps, line, col, "expected a value");
	else
		perr(ps, line, col, "expected a value, found '%c'", c);
	return NULL;
}

/*
 * Block parameters: (key: value, ...).  Tigase writes class names bare
 * (class: tigase.Foo), so a bare word is taken as a string here.
 */
static struct cfg_node *
parse_params(struct parser *ps)
{
	struct cfg_node *head = NULL, **tail = &head, *n;
	int line, col;

	getc_(ps);			/* '(' */
	skip_space(ps, true);
	if (peekc(ps) == ')') {
		getc_(ps);
		return NULL;
	}
	for (;;) {
		skip_space(ps, true);
		n = xcalloc(1, sizeof(*n));
		*tail = n;
		tail = &n->next;
		n->pos.file = ps->name;
		n->pos.line = ps->line;
		n->pos.col = ps->col;
		if ((n->key = parse_key(ps)) == NULL)
			break;
		skip_space(ps, true);
		if (peekc(ps) != ':') {
			perr(ps, ps->line, ps->col,
			    "expected ':' after parameter '%s'", n->key);
			break;
		}
		getc_(ps);
		skip_space(ps, true);
		line = ps->line;
		col = ps->col;
		if (is_ident_start(peekc(ps))) {
			char *w = parse_ident(ps);

			n->value = value_new(ps, CFG_STRING, line, col);
			if (strcmp(w, "true") == 0 || strcmp(w, "false") == 0) {
				n->value->type = CFG_BOOLEAN;
				n->value->boolean = w[0] == 't';
				free(w);
			} else
				n->value->str = w;
		} else if ((n->value = parse_value(ps)) == NULL)
			break;
		skip_space(ps, true);
		if (peekc(ps) == ',') {
			getc_(ps);
			continue;
		}
		if (peekc(ps) == ')') {
			getc_(ps);
			return head;
		}
		perr(ps, ps->line, ps->col, "expected ',' or ')' in block "
		    "parameters");
		break;
	}
	if (ps->error == NULL)
		perr(ps, ps->line, ps->col, "malformed block parameters");
	nodes_free(head);
	return NULL;
}

static struct cfg_node *
parse_stmt(struct parser *ps)
{
	struct cfg_node *n;
	int c;

	n = xcalloc(1, sizeof(*n));
	n->pos.file = ps->name;
	n->pos.line = ps->line;
	n->pos.col = ps->col;
	if ((n->key = parse_key(ps)) == NULL)
		goto fail;
	skip_space(ps, false);
	c = peekc(ps);
	if (c == '=') {
		getc_(ps);
		skip_space(ps, false);
		if ((n->value = parse_value(ps)) == NULL)
			goto fail;
		return n;
	}
	if (c == '(') {
		n->params = parse_params(ps);
		if (ps->error != NULL)
			goto fail;
		skip_space(ps, true);
		c = peekc(ps);
	}
	if (c != '{') {
		if (c == -1 || c == '\n')
			perr(ps, ps->line, ps->col,
			    "expected '=' or '{' after '%s'", n->key);
		else
			perr(ps, ps->line, ps->col,
			    "expected '=' or '{' after '%s', found '%c'",
			    n->key, c);
		goto fail;
	}
	getc_(ps);
	if (++ps->depth > CFG_MAX_DEPTH) {
		perr(ps, n->pos.line, n->pos.col,
		    "blocks nested deeper than %d", CFG_MAX_DEPTH);
		goto fail;
	}
	n->children = parse_stmts(ps, true);
	ps->depth--;
	if (ps->error != NULL)
		goto fail;
	return n;
fail:
	nodes_free(n);
	return NULL;
}

/*
 * A statement list, up to the end of the file or, inside a block, up to
 * the closing brace (which is consumed).
 */
static struct cfg_node *
parse_stmts(struct parser *ps, bool in_block)
{
	struct cfg_node *head = NULL, **tail = &head, *n;
	int line = ps->line, col = ps->col - 1;
	int c;

	for (;;) {
		skip_space(ps, true);
		if (ps->error != NULL)
			break;
		c = peekc(ps);
		if (c == ';') {
			getc_(ps);
			continue;
		}
		if (c == -1) {
			if (in_block)
				perr(ps, line, col, "block is never closed");
			break;
		}
		if (c == '}') {
			if (in_block) {
				getc_(ps);
				return head;
			}
			perr(ps, ps->line, ps->col, "'}' without a block");
			break;
		}
		if ((n = parse_stmt(ps)) == NULL)
			break;
		*tail = n;
		tail = &n->next;
		/* A statement ends at a newline, ';', '}' or the end. */
		skip_space(ps, false);
		c = peekc(ps);
		if (c != '\n' && c != ';' && c != '}' && c != -1) {
			perr(ps, ps->line, ps->col, "expected the end of the "
			    "statement after '%s', found '%c'", n->key, c);
			break;
		}
	}
	if (ps->error != NULL) {
		nodes_free(head);
		return NULL;
	}
	return head;
}

struct cfg_file *
cfg_parse_string(const char *name, const char *text, size_t len,
    char **error_r)
{
	struct cfg_file *cf;
	struct parser ps;

	cf = xcalloc(1, sizeof(*cf));
	cf->path = xstrdup(name);
	memset(&ps, 0, sizeof(ps));
	ps.name = cf->path;
	ps.p = text;
	ps.end = text + len;
	ps.line = 1;
	ps.col = 1;
	/* A UTF-8 byte order mark is allowed and ignored. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		ps.p += 3;
	cf->root = parse_stmts(&ps, false);
	if (ps.error != NULL) {
		*error_r = ps.error;
		cfg_free(&cf);
		return NULL;
	}
	return cf;
}

struct cfg_file *
cfg_parse_file(const char *path, char **error_r)
{
	struct cfg_file *cf;
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(error_r, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CFG_MAX_FILE_SIZE) {
		xasprintf(error_r, "%s: not a regular file of at most %d bytes",
		    path, CFG_MAX_FILE_SIZE);
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			xasprintf(error_r, "%s: read: %s", path,
			    n == 0 ? "short read" : strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		got += (size_t)n;
	}
	close(fd);
	cf = cfg_parse_string(path, buf, got, error_r);
	free(buf);
	return cf;
}

static void
value_free(struct cfg_value *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nitems; i++)
		value_free(v->items[i]);
	free(v->items);
	free(v->str);
	free(v);
}

static void
nodes_free(struct cfg_node *n)
{
	struct cfg_node *next;

	for (; n != NULL; n = next) {
		next = n->next;
		free(n->key);
		value_free(n->value);
		nodes_free(n->params);
		nodes_free(n->children);
		free(n);
	}
}

void
cfg_free(struct cfg_file **cfp)
{
	struct cfg_file *cf = *cfp;

	if (cf == NULL)
		return;
	nodes_free(cf->root);
	free(cf->path);
	free(cf);
	*cfp = NULL;
}

const struct cfg_node *
cfg_find(const struct cfg_node *list, const char *key)
{
	const struct cfg_node *found = NULL;

	for (; list != NULL; list = list->next)
		if (strcmp(list->key, key) == 0)
			found = list;
	return found;
}

bool
cfg_is_block(const struct cfg_node *n)
{
	return n->value == NULL;
}

const char *
cfg_type_name(enum cfg_type t)
{
	switch (t) {
	case CFG_STRING:	return "a string";
	case CFG_INTEGER:	return "an integer";
	case CFG_BOOLEAN:	return "true or false";
	case CFG_LIST:		return "a list";
	case CFG_BLOCK:		return "a block";
	}
	return "?";
}

const char *
cfg_where(const struct cfg_pos *pos)
{
	static char buf[PATH_MAX + 32];

	snprintf(buf, sizeof(buf), "%s:%d:%d", pos->file, pos->line, pos->col);
	return buf;
}
