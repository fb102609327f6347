#!/bin/sh
# The manual pages: mandoc -Tlint is clean, and xpushd.conf(5) documents
# exactly the keys the code knows, with their types and defaults:
#   - every entry of options_table (printed by
#     test/integration/options_dump) has an entry ".It Ic KEY Ar TYPE" in the subsection of its block ("Top-level"
#     for top-level keys) that shows its default as the table writes it, or
#     says "Required";
#   - every key of the provider modules' option tables (the
#     { "key", XP_OPT_TYPE, ... } lines of plugins/apns.c, plugins/fcm.c
#     and plugins/webpush.c)
#     has such an entry in the subsection of its module, with its default
#     when the table gives it as one plain string literal;
#   - and every such entry in those subsections is a key the code knows.
# TAP output.
. "$top_srcdir/test/lib/tap.sh"

man="$top_srcdir/man"
page="$man/xpushd.conf.5"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tab=$(printf '\t')

diag_file() {	# FILE: its lines as TAP comments, if any
	[ -s "$1" ] && sed 's/^/# /' "$1"
	return 0
}

tap_skip() {	# NAME REASON
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}

# (a) mandoc -Tlint
if command -v mandoc >/dev/null 2>&1; then
	for p in xpushd.8 xpushd.conf.5 xpushd-provider.7 xpushctl.8 xpushd-vapid.8; do
		mandoc -Tlint -Wwarning "$man/$p" >"$tmp/lint" 2>&1
		st=$?
		[ "$st" -eq 0 ] && [ ! -s "$tmp/lint" ]
		tap_ok $? "mandoc -Tlint -Wwarning $p is clean"
		diag_file "$tmp/lint"
	done
elif [ "${XPUSHD_REQUIRE_ALL:-0}" = 1 ]; then
	tap_ok 1 "mandoc is installed (XPUSHD_REQUIRE_ALL=1; apt-get install mandoc)"
else
	tap_skip "mandoc -Tlint on the three pages" "mandoc is not installed"
fi

# (b) options_table: key<TAB>type<TAB>default[<TAB>required]
"$top_builddir/test/integration/options_dump" >"$tmp/table"
tap_ok $? "options_dump runs"
[ "$(wc -l <"$tmp/table")" -gt 20 ]
tap_ok $? "options_dump prints the table ($(wc -l <"$tmp/table") keys)"

# (c) the modules' tables, with the same columns.  A default that is not
# one plain string literal (a macro, a literal continued on the next line)
# is "?" and only the key and type are checked.
module_keys() {	# SECTION FILE
	grep -E '^[[:space:]]*\{ "[a-z0-9-]+", XP_OPT_[A-Z]+,' "$2" | sed \
	    -e "s/^[[:space:]]*{ \"\\([a-z0-9-]*\\)\", XP_OPT_\\([A-Z]*\\), /$1.\\1$tab\\2$tab/" \
	    -e "s/${tab}NULL,.*\$/$tab-${tab}required/" \
	    -e "s/$tab\"\\([^\"]*\\)\", -\\{0,1\\}[0-9]*, [0-9]*,.*\$/$tab\\1/" \
	    -e "s/^\\([^$tab]*$tab[A-Z]*$tab\\)\".*\$/\\1?/" \
	    -e "s/${tab}STRING$tab/${tab}string$tab/" \
	    -e "s/${tab}INTEGER$tab/${tab}integer$tab/" \
	    -e "s/${tab}BOOLEAN$tab/${tab}boolean$tab/" \
	    -e "s/${tab}STRLIST$tab/${tab}list$tab/"
}
module_keys apns "$top_srcdir/plugins/apns.c" >"$tmp/apns"
module_keys fcm "$top_srcdir/plugins/fcm.c" >"$tmp/fcm"
module_keys webpush "$top_srcdir/plugins/webpush.c" >"$tmp/webpush"
for m in apns fcm webpush; do
	[ "$(wc -l <"$tmp/$m")" -gt 5 ] && ! grep -qv "^$m\\.[a-z0-9-]*$tab[a-z]*$tab" "$tmp/$m"
	tap_ok $? "the $m module's option table parses ($(wc -l <"$tmp/$m") keys)"
	grep -v "^$m\\.[a-z0-9-]*$tab[a-z]*$tab" "$tmp/$m" >"$tmp/bad"
	diag_file "$tmp/bad"
done
cat "$tmp/table" "$tmp/apns" "$tmp/fcm" "$tmp/webpush" >"$tmp/keys"

# The entries of the page: section.key<TAB>type<TAB>text of the entry, for
# every ".It Ic KEY Ar TYPE" (the section is the first word of the .Ss).
awk -v OFS="$tab" '
function flush() {
	if (key != "")
		print sect "." key, type, text
	key = ""
}
/^\.Ss / { flush(); sect = $2; next }
/^\.Sh / { flush(); sect = ""; next }
/^\.Bl/ { depth++ }
/^\.El/ { if (key != "" && depth == kdepth) flush(); depth--; next }
/^\.It / {
	if (key != "" && depth == kdepth)
		flush()
	if (sect != "" && $2 == "Ic" && $4 == "Ar" && NF == 5) {
		key = $3; type = $5; text = ""; kdepth = depth
		next
	}
}
key != "" { text = text " " $0 }
END { flush() }
' "$page" | sed "s/^Top-level\\.//" >"$tmp/page"

while IFS="$tab" read -r key type def req; do
	entry=$(awk -F "$tab" -v k="$key" '$1 == k' "$tmp/page")
	if [ -z "$entry" ]; then
		tap_ok 1 "xpushd.conf(5) documents $key"
		continue
	fi
	got_type=$(printf '%s\n' "$entry" | cut -f2)
	text=$(printf '%s\n' "$entry" | cut -f3-)
	tap_is "$got_type" "$type" "xpushd.conf(5) documents $key as $type"
	if [ "$req" = required ]; then
		case "$text" in
		*Required*)	tap_ok 0 "$key is marked required" ;;
		*)		tap_ok 1 "$key is marked required" ;;
		esac
	elif [ "$def" = "?" ]; then
		:
	elif [ "$def" = "-" ]; then
		# An optional block: it has its own subsection.
		grep -q "^\\.Ss $key block\$" "$page"
		tap_ok $? "the $key block has a subsection"
	else
		case "$text" in
		*"$def"*)	tap_ok 0 "$key defaults to $def" ;;
		*)		tap_ok 1 "$key defaults to $def"
				tap_diag "the entry says:$text" ;;
		esac
	fi
done <"$tmp/keys"

# Nothing documented that the code does not know.
cut -f1 "$tmp/keys" | sort >"$tmp/known"
cut -f1 "$tmp/page" | sort >"$tmp/documented"
comm -13 "$tmp/known" "$tmp/documented" >"$tmp/extra"
[ ! -s "$tmp/extra" ]
tap_ok $? "xpushd.conf(5) documents no key the code lacks"
diag_file "$tmp/extra"

tap_done
