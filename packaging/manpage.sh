#!/bin/sh
# manpage.sh - prints a man page source (packaging/man/*.scd) with its
# generated lines filled in, for scdoc:
#   @MODES prog@  @OPTS prog@  @KEYS prog@   from the tables (packaging/mangen)
#   @USAGE prog@                             the program's own usage text, as
#                                            a literal block
# BUILD names the build directory. Fails if a generator fails.
set -eu
src=$1
b=${BUILD:-build}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line; do
	case "$line" in
	"@MODES "*@ | "@OPTS "*@ | "@KEYS "*@)
		set -- $(echo "$line" | tr -d @)
		what=$(echo "$1" | tr 'A-Z' 'a-z')
		"$b/packaging/mangen" "$what" "$2" >"$tmp"
		cat "$tmp" ;;
	"@USAGE "*@)
		set -- $(echo "$line" | tr -d @)
		"$b/$2" -help >"$tmp" 2>&1 || true # pedlink's usage: stderr, exit 2
		[ -s "$tmp" ] || { echo "manpage.sh: no usage text from $b/$2" >&2; exit 1; }
		echo '```'
		cat "$tmp"
		echo '```' ;;
	*) printf '%s\n' "$line" ;;
	esac
done <"$src"
