#!/bin/sh
# The Debian package, the way an operator meets it: built with
# dpkg-buildpackage from a clean copy of the tree (make dist), checked by
# lintian, installed with apt-get install ./xpushd_*.deb, its sample
# configuration checked with its env file filled in, its unit checked by
# systemd-analyze verify, configured against the suite's throwaway
# PostgreSQL and Prosody (test/lib/e2e.sh) with a database left at the
# previous schema version, reinstalled over itself (the configuration is
# kept, postinst migrates the schema), started as its unit starts it, one
# push end to end, the registration seen by the packaged xpushctl, and
# purged: nothing of it is left.
#
# It installs a package on this machine, so it is not part of make check:
# scripts/check.sh runs it as a stage of its own, or run
#	make check TESTS=test/integration/deb_test.sh
# as root on a Debian 12 machine without an xpushd package.  TAP output.
. "$top_srcdir/test/lib/tap.sh"
. "$top_srcdir/test/lib/e2e.sh"

DEB_DEADLINE=60		# seconds for the daemon to link or stop
APT_LOCK_WAIT=300	# seconds apt-get waits for another apt-get

skip_all() {
	if [ -n "${XPUSHD_REQUIRE_ALL:-}" ]; then
		echo "Bail out! $1"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 0
}

[ "$(id -u)" = 0 ] || skip_all "installs a package: run as root"
for c in dpkg-buildpackage dh apt-get; do
	command -v "$c" >/dev/null 2>&1 ||
		skip_all "no $c (scripts/deps.sh installs debhelper and dpkg-dev)"
done
dpkg-query -W -f='${Status}\n' xpushd 2>/dev/null | grep -q 'installed' &&
	skip_all "an xpushd package is installed here; this test installs and purges its own"
getent passwd xpushd >/dev/null &&
	skip_all "a user xpushd exists here; this test checks that purging the package removes the one it made"
if ! prosody_available || ! pg_available ||
    ! /usr/bin/python3 -c 'import slixmpp, h2, cryptography' 2>/dev/null; then
	skip_all "needs Prosody, PostgreSQL, python3-slixmpp, python3-h2"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/xpushd-deb.XXXXXX")
chmod 0711 "$tmp"	# the xpushd user reaches its files in $tmp/shared
mkdir -m 0755 "$tmp/shared"
svc_pid=
installed=

apt() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -q \
	    -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@"
}

cleanup() {
	if [ -n "$svc_pid" ]; then
		kill "$svc_pid" 2>/dev/null
		wait "$svc_pid" 2>/dev/null
	fi
	if [ "$tap_failed" -gt 0 ]; then
		for f in "$tmp/service.log" "$tmp/apt.log"; do
			[ -s "$f" ] && { echo "# $f:"; tail -30 "$f" | sed 's/^/#   /'; }
		done
	fi
	e2e_stop
	if [ -n "$installed" ]; then
		rm -f /etc/xpushd/apns-cert.p12 /etc/xpushd/apns-ca.pem
		apt purge xpushd xpushd-dev >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# A make of our own (see install_test.sh).
submake() {
	(unset MAKEFLAGS MFLAGS MAKELEVEL; cd "$top_builddir" && make "$@")
}

# Becomes a command run as the unit runs xpushd: a clean environment plus
# EnvironmentFile=, as User= and Group= (systemd is not running here).  It
# replaces the shell that calls it: call it in a subshell, or in the
# background to have the daemon's PID in $!.
as_unit() {	# COMMAND...
	exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c '
		set -a; . /etc/xpushd/env; set +a
		exec setpriv --reuid=xpushd --regid=xpushd --init-groups -- "$@"' \
	    as_unit "$@"
}

# The unit's command line for KEY (ExecStartPre, ExecStart), its
# specifiers-free text as installed.
unit_cmd() {	# KEY
	sed -n "s/^$1=//p" /lib/systemd/system/xpushd.service | head -n 1
}

# Starts xpushd as the installed unit does, in the background.
start_service() {
	# shellcheck disable=SC2046
	(as_unit $(unit_cmd ExecStartPre)) >>"$tmp/service.log" 2>&1 || return 1
	# shellcheck disable=SC2046
	as_unit $(unit_cmd ExecStart) >>"$tmp/service.log" 2>&1 &
	svc_pid=$!
}

service_up() {
	_i=0
	while ! prosody_component_up; do
		_i=$((_i + 1))
		if [ $_i -gt $((DEB_DEADLINE * 10)) ] || ! kill -0 "$svc_pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
}

# --- build from a clean copy of the tree
submake dist >"$tmp/dist.log" 2>&1
st=$?
tap_ok $st "make dist: a clean copy of the tree"
[ $st -eq 0 ] || { sed 's/^/# /' "$tmp/dist.log" | tail -20; exit 1; }
tarball=$(ls -t "$top_builddir"/xpushd-*.tar.gz | head -n 1)
mkdir "$tmp/src"
tar -xzf "$tarball" -C "$tmp/src"
rm -f "$tarball"
srcdir=$(ls -d "$tmp/src"/xpushd-*)
(cd "$srcdir" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
    dpkg-buildpackage -us -uc -b >"$tmp/build.log" 2>&1)
st=$?
tap_ok $st "dpkg-buildpackage -b builds xpushd and xpushd-dev from it"
[ $st -eq 0 ] || { sed 's/^/# /' "$tmp/build.log" | tail -30; exit 1; }
deb=$(ls "$tmp"/src/xpushd_*.deb)
devdeb=$(ls "$tmp"/src/xpushd-dev_*.deb)

if command -v lintian >/dev/null; then
	lintian --fail-on error,warning "$tmp"/src/xpushd_*.changes \
	    >"$tmp/lintian.log" 2>&1
	tap_ok $? "lintian: no errors and no warnings"
	grep -E '^[EW]:' "$tmp/lintian.log" | sed 's/^/# /'
else
	tap_skip "no lintian" 1
fi

dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$tmp/files"
dpkg-deb -c "$devdeb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$tmp/devfiles"
missing=
for f in /usr/sbin/xpushd /usr/sbin/xpushctl /usr/share/man/man8/xpushctl.8.gz \
    /lib/systemd/system/xpushd.service /etc/xpushd/xpushd.conf \
    /usr/lib/x86_64-linux-gnu/xpushd/apns.so \
    /usr/lib/x86_64-linux-gnu/xpushd/apns-voip.so \
    /usr/lib/x86_64-linux-gnu/xpushd/fcm.so \
    /usr/lib/x86_64-linux-gnu/xpushd/webpush.so \
    /usr/sbin/xpushd-vapid /usr/share/man/man8/xpushd-vapid.8.gz \
    /usr/share/man/man8/xpushd.8.gz /usr/share/man/man5/xpushd.conf.5.gz \
    /usr/share/xpushd/sql/schema.sql \
    /usr/share/xpushd/alerting/xpushd.rules.yml \
    /usr/share/xpushd/alerting/xpushd-dashboard.json; do
	case $f in
	*/x86_64-linux-gnu/*) f=$(echo "$f" | sed "s|x86_64-linux-gnu|$(dpkg-architecture -qDEB_HOST_MULTIARCH)|") ;;
	esac
	grep -qx "$f" "$tmp/files" || missing="$missing $f"
done
for f in $(cd "$top_srcdir" && ls sql/migrations/*.sql); do
	grep -qx "/usr/share/xpushd/$f" "$tmp/files" || missing="$missing /usr/share/xpushd/$f"
done
tap_is "$missing" "" "xpushd carries the daemon, xpushctl, modules, man pages, SQL, unit, sample, alerting"
grep -qx /usr/include/xpushd/provider.h "$tmp/devfiles" &&
    grep -qx /usr/share/man/man7/xpushd-provider.7.gz "$tmp/devfiles"
tap_ok $? "xpushd-dev carries provider.h and xpushd-provider(7)"

# --- install
apt install "$deb" "$devdeb" >"$tmp/apt.log" 2>&1
st=$?
installed=1
tap_ok $st "apt-get install ./xpushd_*.deb ./xpushd-dev_*.deb"
grep -q "systemctl enable --now xpushd" "$tmp/apt.log"
tap_ok $? "postinst says what to do next"

pw=$(getent passwd xpushd)
tap_is "$(echo "$pw" | cut -d: -f6,7)" "/var/lib/xpushd:/usr/sbin/nologin" \
	"postinst made the system user xpushd (home /var/lib/xpushd, no shell)"
uid=$(echo "$pw" | cut -d: -f3)
[ -n "$uid" ] && [ "$uid" -lt 1000 ]
tap_ok $? "a system uid ($uid)"
tap_is "$(stat -c '%U:%G %a' /etc/xpushd /var/lib/xpushd /etc/xpushd/env | tr '\n' ' ')" \
	"root:xpushd 750 xpushd:xpushd 750 root:root 600 " \
	"/etc/xpushd root:xpushd 0750, the state directory xpushd 0750, the env file root 0600"
dpkg-query -W -f='${Conffiles}\n' xpushd | grep -q '^ /etc/xpushd/xpushd.conf '
tap_ok $? "/etc/xpushd/xpushd.conf is a conffile"
cmp -s /etc/xpushd/xpushd.conf "$top_srcdir/conf/xpushd.conf.sample"
tap_ok $? "it is the sample configuration"
if command -v systemctl >/dev/null; then
	tap_is "$(systemctl is-enabled xpushd.service 2>&1)" "disabled" \
		"the unit is installed disabled"
else
	tap_skip "no systemctl" 1
fi
running=0
for p in /proc/[0-9]*; do
	[ "$(readlink "$p/exe" 2>/dev/null)" = /usr/sbin/xpushd ] && running=$((running + 1))
done
tap_is "$running" 0 "and nothing started /usr/sbin/xpushd"

# --- the installed sample, with its env file filled in
/usr/sbin/xpushd -t >"$tmp/t.log" 2>&1
tap_is "$?:$(grep -c XPUSHD_SECRET "$tmp/t.log")" "1:1" \
	"xpushd -t on the sample without its secrets names the missing variable"
cat >>/etc/xpushd/env <<'EOF'
XPUSHD_SECRET=sample-secret
XPUSHD_APNS_PASSWORD=sample-password
EOF
(set -a; . /etc/xpushd/env; set +a; /usr/sbin/xpushd -t) >"$tmp/t.log" 2>&1
st=$?
tap_ok $st "xpushd -t accepts the installed sample with its env file filled in"
[ $st -eq 0 ] || sed 's/^/# /' "$tmp/t.log"
(as_unit /usr/sbin/xpushd -t -c /etc/xpushd/xpushd.conf) >"$tmp/t.log" 2>&1
tap_ok $? "and as the unit runs it (user xpushd, the env file)"

if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify /lib/systemd/system/xpushd.service >"$tmp/verify.log" 2>&1
	st=$?
	tap_ok $st "systemd-analyze verify accepts the installed unit"
	sed 's/^/# /' "$tmp/verify.log"
else
	tap_skip "no systemd-analyze" 1
fi

# --- configure it against the test suite's PostgreSQL and Prosody
e2e_start >"$tmp/e2e.log" 2>&1 || { cat "$tmp/e2e.log"; echo "Bail out! the end-to-end world"; exit 1; }
kill "$E2E_XPUSHD_PID"	# the build tree's xpushd: the package's takes over
wait "$E2E_XPUSHD_PID" 2>/dev/null
E2E_XPUSHD_PID=
# A database of its own: e2e_start migrated its own with the build tree.
psql -X -q "$XPUSHD_TEST_DB_URI" -c "CREATE DATABASE xpushd_pkg OWNER xpushd"
db_uri=$XPUSHD_TEST_DB_BASE/xpushd_pkg
install -m 0640 -g xpushd "$E2E_DIR/apns/client.p12" /etc/xpushd/apns-cert.p12
install -m 0640 -g xpushd "$E2E_DIR/apns/ca.pem" /etc/xpushd/apns-ca.pem

# No module-path and no migrations: the package's own directories.
conf() {	# [MIGRATIONS-LINE]
	cat <<CONF
admins = [ 'admin@localhost' ]
xmpp () {
    jid = 'push.localhost'
    port = $PROSODY_COMPONENT_PORT
    secret = env('XPUSHD_SECRET')
}
database () {
    uri = '$db_uri'
    ${1:-}
}
push () {
    'apns-binary-api' () {
        endpoint = '127.0.0.1:$E2E_APNS_PORT'
        'ca-file' = '/etc/xpushd/apns-ca.pem'
        'cert-file' = '/etc/xpushd/apns-cert.p12'
        'cert-password' = env('XPUSHD_APNS_PASSWORD')
        'apns-topic' = 'com.example.app'
    }
}
CONF
}
conf >/etc/xpushd/xpushd.conf
cat >/etc/xpushd/env <<EOF
XPUSHD_SECRET=$PROSODY_SECRET
XPUSHD_APNS_PASSWORD=secret
EOF

# The database a previous release left: every migration but the newest.
newest=$(ls /usr/share/xpushd/sql/migrations | sort | tail -n 1 | sed 's/-.*//; s/^0*//')
mkdir -m 0755 "$tmp/shared/old"
ls /usr/share/xpushd/sql/migrations | sort | sed '$d' | while read -r f; do
	cp "/usr/share/xpushd/sql/migrations/$f" "$tmp/shared/old/"
done
conf "migrations = '$tmp/shared/old'" >"$tmp/shared/old.conf"
chmod 0644 "$tmp/shared/old.conf" "$tmp"/shared/old/*
schema() {
	psql -X -A -t "$db_uri" -c "select max(version) from xpushd_schema_version"
}
if [ "$newest" -gt 1 ]; then
	(as_unit /usr/sbin/xpushd --migrate -c "$tmp/shared/old.conf") >"$tmp/m.log" 2>&1
	tap_is "$?:$(schema)" "0:$((newest - 1))" "the database is at the previous schema version ($((newest - 1)))"
	(as_unit timeout "$DEB_DEADLINE" /usr/sbin/xpushd -f -c /etc/xpushd/xpushd.conf) >"$tmp/old.log" 2>&1
	st=$?
	[ $st -ne 0 ] && [ $st -ne 124 ] && grep -q "run xpushd --migrate" "$tmp/old.log"
	tap_ok $? "the installed xpushd refuses to start on it, saying to migrate"
else
	tap_skip "one migration only: no previous schema" 2
fi
if command -v systemctl >/dev/null; then
	systemctl enable xpushd.service >/dev/null 2>&1
	tap_is "$(systemctl is-enabled xpushd.service 2>&1)" "enabled" "the operator enables the unit"
fi
sum_before=$(sha256sum /etc/xpushd/xpushd.conf /etc/xpushd/env)

# --- reinstall over itself
apt install --reinstall "$deb" >"$tmp/apt.log" 2>&1
tap_ok $? "apt-get install --reinstall ./xpushd_*.deb"
tap_is "$(sha256sum /etc/xpushd/xpushd.conf /etc/xpushd/env)" "$sum_before" \
	"the configuration and the env file are kept"
grep -q "xpushd: database schema: xpushd --migrate: " "$tmp/apt.log"
tap_ok $? "postinst migrated the schema"
grep "xpushd: " "$tmp/apt.log" | sed 's/^/# /'
tap_is "$(schema)" "$newest" "the database is at this version's schema ($newest)"
tap_is "$(stat -c '%U:%G %a' /etc/xpushd /var/lib/xpushd | tr '\n' ' ')" \
	"root:xpushd 750 xpushd:xpushd 750 " "the modes are kept"
if command -v systemctl >/dev/null; then
	tap_is "$(systemctl is-enabled xpushd.service 2>&1)" "enabled" "the unit stays enabled"
fi
grep -q 'deb-systemd-invoke \$_dh_action' /var/lib/dpkg/info/xpushd.postinst &&
    grep -q '_dh_action=restart' /var/lib/dpkg/info/xpushd.postinst
tap_ok $? "postinst restarts an enabled unit after an upgrade (dh_installsystemd)"

# --- the service comes back: under systemd postinst restarted it; here,
# where systemd does not run, start it as the unit does.
if [ -d /run/systemd/system ]; then
	tap_wait_for "systemctl is-active -q xpushd.service" "$DEB_DEADLINE"
	tap_ok $? "the service is running again"
	svc_pid=$(systemctl show -p MainPID --value xpushd.service)
else
	start_service
	tap_ok $? "ExecStartPre of the installed unit (xpushd -t as user xpushd) passes"
fi
service_up
tap_ok $? "the installed xpushd, as its unit runs it, links to Prosody"
tap_is "$(ps -o user= -p "$svc_pid" 2>/dev/null | tr -d ' ')" "xpushd" "as user xpushd"

# --- one push end to end
token=$(printf 'de%.0s' $(seq 32))
out=$(e2e_client --jid alice@localhost -- command push.localhost register-device \
	provider=apns-binary-api device-token="$token")
node=$(e2e_field "$out" node)
secret=$(e2e_field "$out" secret)
[ -n "$node" ] && [ -n "$secret" ]
tap_ok $? "Alice's phone registers at the installed xpushd"
out=$(e2e_client --jid alice@localhost -- enable-push push.localhost "$node" "$secret")
tap_is "$out" '{"type": "result"}' "Alice enables push at Prosody"
e2e_client --jid bob@localhost -- send alice@localhost "from the package" >/dev/null
tap_wait_for "grep -q '/3/device/$token' '$E2E_APNS_RECORD' 2>/dev/null" "$DEB_DEADLINE"
tap_ok $? "Bob writes: the APNs mock receives the push for Alice's token"
r=$(grep "/3/device/$token" "$E2E_APNS_RECORD" | tail -n 1)
tap_is "$(/usr/bin/python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get("status"))' "$r")" \
	"200" "sent with the certificate from /etc/xpushd, accepted"

# --- xpushctl from the package, on the same configuration and database;
# it takes env('NAME') from its environment, as xpushd does (xpushctl(8)).
ctl() {
	(set -a; . /etc/xpushd/env; set +a; exec /usr/sbin/xpushctl "$@")
}
ctl check-config >"$tmp/ctl.log" 2>&1
tap_ok $? "xpushctl check-config accepts /etc/xpushd/xpushd.conf"
out=$(ctl --json show "$node" 2>"$tmp/ctl.log")
tap_is "$(/usr/bin/python3 -c 'import json, sys
d = json.loads(sys.argv[1] or "{}")
print(d.get("account"), d.get("token") == sys.argv[2])' "$out" "$token")" "alice@localhost True" \
	"xpushctl show finds Alice's registration in the package's database"

kill "$svc_pid"
wait "$svc_pid"
tap_is "$?" 0 "xpushd stops cleanly on SIGTERM"
svc_pid=

# --- purge: what the operator put into /etc/xpushd is theirs to remove.
rm -f /etc/xpushd/apns-cert.p12 /etc/xpushd/apns-ca.pem
apt purge xpushd xpushd-dev >"$tmp/apt.log" 2>&1
tap_ok $? "apt-get purge xpushd xpushd-dev"
installed=
tap_is "$(dpkg-query -W -f='${db:Status-Abbrev}' xpushd xpushd-dev 2>/dev/null | tr -d ' \n')" "" \
	"dpkg knows neither package any more"
getent passwd xpushd >/dev/null || getent group xpushd >/dev/null
tap_ok $((! $?)) "the user and group xpushd are gone"
tap_is "$(dpkg-statoverride --list | grep xpushd)" "" "so are the mode overrides"
left=$(find /etc /var/lib /lib/systemd /usr/sbin /usr/lib /usr/share /usr/include \
    -name '*xpushd*' 2>/dev/null | grep -v '^/var/lib/dpkg/info/xpushd[-.a-z]*$' | sort)
tap_is "$left" "" "no file or directory of xpushd is left"
if command -v systemctl >/dev/null; then
	! systemctl is-enabled xpushd.service >/dev/null 2>&1
	tap_ok $? "systemd knows no xpushd unit"
fi

tap_done
