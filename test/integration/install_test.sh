#!/bin/sh
# make install DESTDIR=...: the daemon, the modules, the provider header,
# the man pages, the sample configuration, the systemd unit, sql/ and the
# alerting files land where the build says; a provider module built out of
# tree against the installed header alone loads into the installed xpushd,
# and one built for another ABI is refused.  TAP output.
. "$top_srcdir/test/lib/tap.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/dest"

# A make of our own: the variables of the make running the tests (its
# jobserver, TESTS=...) must not leak into it.
submake() {
	(unset MAKEFLAGS MFLAGS MAKELEVEL; cd "$top_builddir" && make "$@")
}

# The value of a variable of the build's Makefile, fully expanded.
mkvar() {
	printf 'xp-print-var:\n\t@echo $(%s)\n' "$1" |
	    submake -s -f Makefile -f - xp-print-var
}

submake install DESTDIR="$dest" >"$tmp/install.log" 2>&1
st=$?
tap_ok $st "make install DESTDIR=... succeeds"
[ $st -eq 0 ] || sed 's/^/# /' "$tmp/install.log" | tail -n 30

sbindir=$(mkvar sbindir)
pkglibdir=$(mkvar pkglibdir)
pkgdatadir=$(mkvar pkgdatadir)
includedir=$(mkvar includedir)
mandir=$(mkvar mandir)
docdir=$(mkvar docdir)
unitdir=$(mkvar systemdsystemunitdir)
[ -n "$sbindir" ] && [ -n "$pkglibdir" ] && [ -n "$includedir" ]
tap_ok $? "the build's directories are known (pkglibdir $pkglibdir)"

for f in \
    "$sbindir/xpushd" "$sbindir/xpushd-vapid" \
    "$pkglibdir/apns.so" "$pkglibdir/apns-voip.so" "$pkglibdir/fcm.so" \
    "$pkglibdir/webpush.so" \
    "$includedir/xpushd/provider.h" \
    "$mandir/man8/xpushd.8" "$mandir/man5/xpushd.conf.5" \
    "$mandir/man8/xpushd-vapid.8" \
    "$mandir/man7/xpushd-provider.7" \
    "$docdir/xpushd.conf.sample" \
    "$unitdir/xpushd.service" \
    "$pkgdatadir/sql/schema.sql" \
    "$pkgdatadir/sql/migrations/001-initial.sql" \
    "$pkgdatadir/sql/migrations/002-cert-warnings.sql" \
    "$pkgdatadir/alerting/xpushd.rules.yml" \
    "$pkgdatadir/alerting/xpushd-dashboard.json"; do
	[ -f "$dest$f" ]
	tap_ok $? "installs $f"
done
[ -x "$dest$sbindir/xpushd" ]
tap_ok $? "xpushd is executable"
[ -x "$dest$sbindir/xpushctl" ] && [ -f "$dest$mandir/man8/xpushctl.8" ]
tap_ok $? "installs $sbindir/xpushctl and xpushctl(8)"

grep -q "^ExecStart=$sbindir/xpushd -f " "$dest$unitdir/xpushd.service"
tap_ok $? "the unit starts $sbindir/xpushd in the foreground"
grep -q '^User=xpushd$' "$dest$unitdir/xpushd.service" &&
    grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' \
    "$dest$unitdir/xpushd.service"
tap_ok $? "the unit runs as xpushd and reloads with SIGHUP"
! grep -q '@[a-z]*@' "$dest$unitdir/xpushd.service"
tap_ok $? "the unit has no placeholders left"

# A module out of tree: only the installed header, no libevent, no
# config.h.  -DABI_OFFSET=1 builds one for another ABI.
cat >"$tmp/outoftree.c" <<'EOF'
#include <stdlib.h>
#include <xpushd/provider.h>

#ifndef ABI_OFFSET
#define ABI_OFFSET 0
#endif

static const struct xp_option oot_options[] = {
	{ "plugin", XP_OPT_STRING, "'outoftree'", 0, 0, "the module" },
	{ "greeting", XP_OPT_STRING, NULL, 0, 0, "a required key" },
	{ "retries", XP_OPT_INTEGER, "3", 0, 10, "an optional integer" },
	{ NULL, XP_OPT_STRING, NULL, 0, 0, NULL }
};

static void *
oot_create(const struct xp_host *host, const void *block, const char *id,
    char **error_r)
{
	static int self;

	host->log(host, XP_LOG_INFO, "%s: %s", id,
	    host->opt_str(host, block, "greeting"));
	return &self;
}

static int
oot_send(void *self, const struct xp_push *push, xp_sent_cb *cb, void *arg)
{
	return -1;
}

static void
oot_destroy(void *self)
{
}

const struct xp_provider xpushd_provider = {
	.abi = XP_PROVIDER_ABI + ABI_OFFSET,
	.name = "outoftree",
	.description = "built out of tree",
	.options = oot_options,
	.max_payload = 4096,
	.create = oot_create,
	.send = oot_send,
	.destroy = oot_destroy,
};
EOF
mkdir "$tmp/mods" "$tmp/oldmods"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter -shared -fPIC \
    -I"$dest$includedir" -o "$tmp/mods/outoftree.so" "$tmp/outoftree.c" \
    2>"$tmp/cc.log"
st=$?
tap_ok $st "a module builds against the installed provider.h alone"
[ $st -eq 0 ] || sed 's/^/# /' "$tmp/cc.log"
${CC:-cc} -std=c11 -shared -fPIC -DABI_OFFSET=1 -I"$dest$includedir" \
    -o "$tmp/oldmods/outoftree.so" "$tmp/outoftree.c"

conf() {	# MODULE-DIR [KEY-LINE]
	cat <<CONF
'module-path' = '$1'
xmpp () {
    jid = 'push.example.com'
    secret = 'sekrit'
}
database () { uri = 'postgresql://xpushd@localhost/xpushd' }
push () {
    'my-service' () {
        plugin = 'outoftree'
        ${2:-greeting = 'hello'}
    }
}
CONF
}
xpushd="$dest$sbindir/xpushd"
conf "$tmp/mods" >"$tmp/good.conf"
"$xpushd" -t -c "$tmp/good.conf" 2>"$tmp/err"
tap_is "$?" 0 "the installed xpushd -t loads the out-of-tree module"
sed 's/^/# /' "$tmp/err"

conf "$tmp/mods" "retries = 2" >"$tmp/missing.conf"
"$xpushd" -t -c "$tmp/missing.conf" 2>"$tmp/err"
tap_is "$?" 1 "and checks its blocks against its options table"
grep -q "needs 'greeting'" "$tmp/err"
tap_ok $? "naming the missing required key"

conf "$tmp/oldmods" >"$tmp/old.conf"
"$xpushd" -t -c "$tmp/old.conf" 2>"$tmp/err"
tap_is "$?" 1 "a module built for another ABI is refused"
grep -q "provider ABI" "$tmp/err"
tap_ok $? "saying why"
sed 's/^/# /' "$tmp/err"

tap_done
