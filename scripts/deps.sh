#!/bin/sh
# Installs what building and testing xpushd needs on Debian 12, quietly and
# only when something is missing.  Sourced or run by check.sh and demo.sh.
set -e

XPUSHD_DEBS="build-essential autoconf automake libtool pkg-config
 libevent-dev libexpat1-dev libssl-dev libnghttp2-dev libcurl4-openssl-dev
 libjson-c-dev libpq-dev libltdl-dev
 postgresql postgresql-client prosody prosody-modules python3-slixmpp
 lua-dbi-sqlite3 clang libclang-rt-14-dev mandoc curl openssl
 python3-h2 python3-cryptography ejabberd"

missing=
for p in $XPUSHD_DEBS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		SUDO=sudo
	else
		SUDO=
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# policy-rc.d keeps Debian's packages from starting their own
	# PostgreSQL, Prosody and ejabberd: the tests start private instances.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod +x /usr/sbin/policy-rc.d
		cleanup_policy=1
	fi
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
	[ -n "${cleanup_policy:-}" ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi
exit 0
