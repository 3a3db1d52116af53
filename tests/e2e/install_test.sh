#!/bin/bash
# `meson install` into a DESTDIR puts every file where doc/DESIGN.md §13 and
# the packaging expect it, keeps an existing configuration file, and the
# installed bash completion completes defenderctl's verbs.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
: "${DEFENDER_BUILD_ROOT:?set by meson test}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The configuration file: installed when absent, kept when present.
meson install -C "$DEFENDER_BUILD_ROOT" --no-rebuild --quiet \
  --destdir "$tmp/fresh" >"$tmp/log" 2>&1 || { cat "$tmp/log"; e2e_fatal "meson install failed"; }
mkdir -p "$tmp/kept/etc/security"
echo "# the administrator's" >"$tmp/kept/etc/security/defender.toml"
meson install -C "$DEFENDER_BUILD_ROOT" --no-rebuild --quiet \
  --destdir "$tmp/kept" >"$tmp/log" 2>&1 || { cat "$tmp/log"; e2e_fatal "meson install failed"; }
e2e_equal "an existing defender.toml is kept" "# the administrator's" \
  "$(cat "$tmp/kept/etc/security/defender.toml")"
e2e_check "a missing defender.toml is installed" \
  cmp -s "$DEFENDER_SOURCE_ROOT/etc/defender.toml" "$tmp/fresh/etc/security/defender.toml"
# An existing /etc/security keeps its mode.
mkdir -p "$tmp/modes/etc" && mkdir -m 0750 "$tmp/modes/etc/security"
meson install -C "$DEFENDER_BUILD_ROOT" --no-rebuild --quiet \
  --destdir "$tmp/modes" >"$tmp/log" 2>&1 || { cat "$tmp/log"; e2e_fatal "meson install failed"; }
e2e_check "defender.toml installed in an existing 0750 /etc/security" \
  test -f "$tmp/modes/etc/security/defender.toml"
e2e_equal "an existing /etc/security keeps its mode" 750 \
  "$(stat -c %a "$tmp/modes/etc/security")"

root=$tmp/fresh
has() { [ -e "$root$1" ] || [ -L "$root$1" ]; }
module=$(cd "$root" && find . -path '*/security/pam_defender.so' | sed 's/^\.//')
e2e_check "module in a security directory ($module)" test -n "$module"
e2e_check "configuration parser beside the module" \
  has "$(dirname "$module")/pam_defender.d/config.so"
if [ -d /usr/share/pam-configs ]; then
  e2e_equal "pam-auth-update alias" "pam_defender.so" \
    "$(readlink "$root$(dirname "$module")/pam_dfndr.so")"
  for p in pam_defender pam_defender_authfail pam_defender_authsucc; do
    e2e_check "profile $p" has "/usr/share/pam-configs/$p"
    e2e_check "profile $p disabled by default" \
      grep -qx 'Default: no' "$root/usr/share/pam-configs/$p"
  done
fi
# -Dpam_auth_update: enabled installs the profiles and the alias whatever
# the build machine has (the Debian package asks for them), disabled never.
for v in enabled disabled; do
  meson setup "$tmp/opt-$v" "$DEFENDER_SOURCE_ROOT" -Dtests=false \
    -Dman=disabled -Dpam_auth_update=$v >"$tmp/log" 2>&1 ||
    { cat "$tmp/log"; e2e_fatal "meson setup -Dpam_auth_update=$v failed"; }
  meson introspect "$tmp/opt-$v" --installed >"$tmp/installed-$v.json"
done
profiles() {  # the pam-configs files and the alias an install would make
  python3 -c 'import json, sys
print(" ".join(sorted(p.rsplit("/", 1)[1] for p in json.load(open(sys.argv[1])).values()
                      if "/pam-configs/" in p or p.endswith("/pam_dfndr.so"))))' "$1"
}
e2e_equal "-Dpam_auth_update=enabled installs the profiles and the alias" \
  "pam_defender pam_defender_authfail pam_defender_authsucc pam_dfndr.so" \
  "$(profiles "$tmp/installed-enabled.json")"
e2e_equal "-Dpam_auth_update=disabled installs none" "" \
  "$(profiles "$tmp/installed-disabled.json")"

sbin=$(cd "$root" && find . -path '*/sbin/defenderctl' | sed 's/^\.//')
e2e_check "defenderctl in sbin ($sbin)" test -n "$sbin"
share=${sbin%/sbin/defenderctl}/share
e2e_check "example config" has "$share/doc/pam-defender/examples/defender.toml"
e2e_check "pam_defender(8)" has "$share/man/man8/pam_defender.8"
e2e_check "defender.toml(5)" has "$share/man/man5/defender.toml.5"
completion=$(cd "$root" && find . -path '*/bash-completion/completions/defenderctl' | sed 's/^\.//')
e2e_check "bash completion ($completion)" test -n "$completion"

# The completion function, run the way bash runs it.
[ -f /usr/share/bash-completion/bash_completion ] ||
  e2e_fatal "bash-completion is missing (scripts/install-deps.sh installs it)"
if [ -n "$completion" ]; then
  complete_words() {  # WORDS... -> what bash would offer for the last word
    bash -c '
      . /usr/share/bash-completion/bash_completion
      . "$0"
      COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
      COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
      _defenderctl defenderctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
      printf "%s\n" "${COMPREPLY[@]}" | sort | xargs' "$root$completion" "$@"
  }
  e2e_equal "completes verbs" "attempts block check cleanup config doctor firewall forget list stats unblock" \
    "$(complete_words defenderctl '')"
  e2e_equal "completes global options" "--config --help --json --version" \
    "$(complete_words defenderctl --)"
  e2e_equal "completes unblock options" "--all --help --host --json --shown --typed --user" \
    "$(complete_words defenderctl unblock --)"
  e2e_equal "completes config sub-verbs" "check show" \
    "$(complete_words defenderctl --config /x config '')"
  e2e_equal "completes --result values" "failure refused success" \
    "$(complete_words defenderctl attempts --result '')"
fi
e2e_finish
