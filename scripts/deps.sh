#!/bin/sh
# Installs what building and testing xpushd needs on Debian 12, quietly and
# only when something is missing.  Sourced or run by check.sh and demo.sh.
# The packages are listed in scripts/deps.list, which debian/control follows.
#
#	scripts/deps.sh			install what is missing
#	scripts/deps.sh --control	print the Build-Depends and Depends
#					that debian/control must carry
#	scripts/deps.sh --check-control FILE
#					exit 1, saying what differs, unless
#					FILE carries them
set -e

deps_list=$(cd "$(dirname "$0")" && pwd)/deps.list

# The packages of the given roles, one a line.
deps_packages() {	# ROLE...
	awk -v roles=" $* " '!/^[ \t]*(#|$)/ && index(roles, " " $2 " ") { print $1 }' "$deps_list"
}

# The relations of one role, as debian/control writes them: the third
# column when there is one, else the package.
deps_relations() {	# ROLE
	awk -v role="$1" '!/^[ \t]*(#|$)/ && $2 == role {
		if (NF > 2) { $1 = ""; $2 = ""; sub(/^ +/, ""); print }
		else print $1
	}' "$deps_list"
}

# The two fields of debian/control that follow the list.
deps_control() {
	printf 'Build-Depends: %s\n' "$(deps_relations build | paste -sd, - | sed 's/,/, /g')"
	printf 'Depends: ${shlibs:Depends}, ${misc:Depends}, %s\n' \
	    "$(deps_relations run | paste -sd, - | sed 's/,/, /g')"
}

case "${1:-}" in
--control)
	deps_control
	exit 0
	;;
--check-control)
	# debian/control's Build-Depends and the xpushd package's Depends
	# are these lines, each on one line.
	bad=0
	deps_control >"${TMPDIR:-/tmp}/deps.$$"
	while IFS= read -r line; do
		if ! grep -Fxq "$line" "$2"; then
			echo "$2: the list (scripts/deps.list) wants: $line" >&2
			grep "^${line%%:*}:" "$2" | sed 's/^/  it has: /' >&2
			bad=1
		fi
	done <"${TMPDIR:-/tmp}/deps.$$"
	rm -f "${TMPDIR:-/tmp}/deps.$$"
	[ $bad -eq 0 ] || echo "$2: write what scripts/deps.sh --control prints" >&2
	exit $bad
	;;
esac

XPUSHD_DEBS=$(deps_packages build run test)

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
	# PostgreSQL, Prosody, ejabberd and Prometheus: the tests start
	# private instances.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod +x /usr/sbin/policy-rc.d
		cleanup_policy=1
	fi
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
	[ -n "${cleanup_policy:-}" ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi
exit 0
