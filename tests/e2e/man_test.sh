#!/bin/bash
# The built man pages render without warnings: `man --warnings -l PAGE`
# must print nothing on stderr, and the page must contain its NAME section.
# Usage: man_test.sh PAGE...
set -uo pipefail
. "$(dirname "$0")/lib.sh"
command -v man >/dev/null || e2e_fatal "man is missing (package man-db)"
[ $# -gt 0 ] || e2e_fatal "no pages"
for page in "$@"; do
  [ -f "$page" ] || e2e_fatal "not built: $page"
  warnings=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" 2>&1 >/dev/null)
  e2e_equal "$(basename "$page") renders without warnings" "" "$warnings"
  text=$(MANWIDTH=80 LC_ALL=C.UTF-8 man -l "$page" 2>/dev/null)
  e2e_check "$(basename "$page") has a NAME section" grep -q '^NAME' <<<"$text"
done
e2e_finish
