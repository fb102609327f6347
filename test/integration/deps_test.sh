#!/bin/sh
# scripts/deps.list is the one list of Debian packages: scripts/deps.sh
# installs it, and debian/control must carry its build and run entries
# (debian/rules refuses to build otherwise, through deps.sh
# --check-control).  TAP output.
. "$top_srcdir/test/lib/tap.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
deps="$top_srcdir/scripts/deps.sh"
control="$top_srcdir/debian/control"

sh "$deps" --check-control "$control" 2>"$tmp/err"
tap_ok $? "debian/control carries the Build-Depends and Depends of scripts/deps.list"
sed 's/^/# /' "$tmp/err"

sed 's/, libpq-dev//' "$control" >"$tmp/control"
sh "$deps" --check-control "$tmp/control" 2>"$tmp/err"
tap_is "$?" 1 "a control without one of the list's Build-Depends is refused"
grep -q "wants: Build-Depends: .*libpq-dev" "$tmp/err"
tap_ok $? "saying what the field must be"

sed 's/^Depends: \${shlibs:Depends}, \${misc:Depends}, .*/&, extra-package/' "$control" >"$tmp/control"
sh "$deps" --check-control "$tmp/control" 2>/dev/null
tap_is "$?" 1 "a package Depends on that the list does not name is refused"

dups=$(awk '!/^[ \t]*(#|$)/ { print $1 }' "$top_srcdir/scripts/deps.list" | sort | uniq -d)
tap_is "$dups" "" "the list names each package once"
bad=$(awk '!/^[ \t]*(#|$)/ && $2 != "build" && $2 != "run" && $2 != "test" { print $1 }' \
    "$top_srcdir/scripts/deps.list")
tap_is "$bad" "" "each entry is for build, run or test"

sed -n "s/^Build-Depends: //p" "$control" | grep -q "^debhelper-compat (= 13)"
tap_ok $? "debhelper compat 13 (its third column in the list)"

tap_done
