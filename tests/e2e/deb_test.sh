#!/bin/bash
# The Debian package: builds with packaging/build-deb.sh (dpkg-buildpackage
# -us -uc -b), passes lintian without errors, installs with dpkg -i (module,
# alias, defenderctl, man pages, profiles not enabled, /var/lib/pam_defender
# 0700 root, the module usable by its plain name from the system PAM
# directory), works through common-auth once the administrator enables the
# pam-auth-update profiles, keeps them over an upgrade, and purges without
# leaving anything behind, in /etc/pam.d/common-* either. A removal while
# hand-edited sshd and sudo stacks name the module is refused (prerm:
# defenderctl doctor --removal) with the lines named and the stacks left
# as they are; so is one while a common-* file keeps a line pam-auth-update
# did not write (the profiles are then put back). Once the administrator
# restores them, it goes through, stopping the firewall watcher and
# removing its nftables table.
#
# It installs the package on this machine, so it runs only as root on
# Debian and refuses (SKIP) to touch a machine where pam-defender or any of
# its files is already present.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
E2E_NAME=deb-package

e2e_init dpkg-buildpackage dh lintian fakeroot pamtester sqlite3 python3 man
pkg=pam-defender
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
secdir=/lib/$multiarch/security
files=("$secdir/pam_defender.so" "$secdir/pam_dfndr.so"
       "$secdir/pam_defender.d/config.so" /usr/sbin/defenderctl
       /etc/security/defender.toml /var/lib/pam_defender
       /usr/share/pam-configs/pam_defender
       /usr/share/pam-configs/pam_defender_authfail
       /usr/share/pam-configs/pam_defender_authsucc
       /usr/share/man/man8/pam_defender.8.gz
       /usr/share/man/man5/defender.toml.5.gz
       /usr/share/bash-completion/completions/defenderctl
       /etc/cron.daily/pam-defender
       /usr/share/doc/$pkg)
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -qv not-installed; then
  e2e_skip "$pkg is installed on this machine; not touching it"
fi
# The test suite's own logins through the release module (conf=...) leave
# compiled configurations in the state directory (doc/DESIGN.md §11.1):
# when it holds nothing else, it is not an installation's state. It is put
# aside while the package is tested and restored afterwards.
state=/var/lib/pam_defender
if [ -d "$state" ] && [ ! -L "$state" ] &&
   [ "$(ls -A "$state")" = config ] &&
   [ -z "$(find "$state/config" -mindepth 1 ! -name '*.snapshot' ! -name '*.logged' -print -quit)" ]; then
  mv "$state" "$E2E_TMP/statedir.saved"
  e2e_on_exit "rm -rf '$state'; mv '$E2E_TMP/statedir.saved' '$state'"
fi
for f in "${files[@]}"; do
  [ ! -e "$f" ] && [ ! -L "$f" ] || e2e_skip "$f exists; not touching this machine"
done

# Build.
out=$E2E_TMP/out
BUILD_JOBS=2 DEB_BUILD_OPTIONS=noddebs \
  "$DEFENDER_SOURCE_ROOT/packaging/build-deb.sh" "$out" >"$E2E_TMP/build.log" 2>&1
status=$?
E2E_LOG_FILES+=("$E2E_TMP/build.log")
[ $status -eq 0 ] || { tail -n 60 "$E2E_TMP/build.log" >&2; e2e_fatal "package build failed"; }
deb=$(ls "$out"/${pkg}_*.deb)
e2e_log "built $(basename "$deb")"

# The module loads libhiredis with dlopen() (for the Redis store only), which
# dpkg-shlibdeps cannot see: the package depends on the package that ships
# the library the module names.
soname=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ".$secdir/pam_defender.so" |
  grep -ao 'libhiredis\.so\.[0-9.]*' | head -n 1)
hiredis_pkg=$(dpkg-query -S "*/${soname:-none}" 2>/dev/null | sed -n '1s/:.*//p')
e2e_check "the module names a libhiredis a package ships ($soname: $hiredis_pkg)" \
  test -n "$hiredis_pkg"
e2e_equal "the package's dependency on $hiredis_pkg" "$hiredis_pkg" \
  "$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -n "s/^ *\($hiredis_pkg\)\( .*\)\?$/\1/p")"

# lintian: errors fail the test; the remaining tags are listed.
lintian --fail-on error "$deb" >"$E2E_TMP/lintian.log" 2>&1
e2e_check "lintian reports no error" test $? -eq 0
sed 's/^/lintian: /' "$E2E_TMP/lintian.log" >&2

# Install.
pam_sums() { cat /etc/pam.d/common-* | md5sum | cut -d' ' -f1; }
before=$(pam_sums)
e2e_on_exit "dpkg --purge $pkg"
dpkg -i "$deb" >"$E2E_TMP/install.log" 2>&1
e2e_check "dpkg -i succeeds" test $? -eq 0
E2E_LOG_FILES+=("$E2E_TMP/install.log")
e2e_equal "package state" "install ok installed" \
  "$(dpkg-query -W -f='${Status}' "$pkg")"
for f in "${files[@]}"; do
  e2e_check "installed: $f" test -e "$f"
done
e2e_check "the README is in the documentation" \
  test -e "/usr/share/doc/$pkg/README.md" -o -e "/usr/share/doc/$pkg/README.md.gz"
e2e_equal "alias for pam-auth-update" "pam_defender.so" \
  "$(readlink "$secdir/pam_dfndr.so")"
e2e_equal "state directory" "700 root root" \
  "$(stat -c '%a %U %G' /var/lib/pam_defender)"
e2e_check "defender.toml is a conffile" \
  grep -qx ' /etc/security/defender.toml [0-9a-f]*' \
  <(dpkg-query -W -f='${Conffiles}\n' "$pkg")
e2e_equal "profiles not enabled: /etc/pam.d/common-* unchanged" "$before" \
  "$(pam_sums)"
e2e_check "the module loads with RTLD_NOW" python3 -c '
import ctypes, os, sys
ctypes.CDLL(sys.argv[1], mode=os.RTLD_NOW)' "$secdir/pam_defender.so"
for page in /usr/share/man/man8/pam_defender.8.gz /usr/share/man/man5/defender.toml.5.gz; do
  e2e_equal "$(basename "$page") renders without warnings" "" \
    "$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)"
done
timers=$(dpkg -L "$pkg" | grep -E '/systemd/system/[^/]+\.timer$' || true)
if [ -n "$timers" ]; then
  for t in $timers; do
    e2e_check "timer $(basename "$t") enabled" \
      env DPKG_MAINTSCRIPT_PACKAGE="$pkg" \
      deb-systemd-helper was-enabled "$(basename "$t")"
  done
else
  e2e_log "note: the package has no systemd timer yet"
fi
# The postinst starts (restarts, on an upgrade) the timer and the firewall
# watcher, not the service the timer triggers. The watcher is shipped
# disabled, and deb-systemd-invoke starts no disabled unit: it runs only
# once the administrator enabled it, and then an upgrade restarts it (and
# the prerm stops it at removal) instead of leaving it stopped.
postinst=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./postinst)
e2e_equal "units the postinst starts" \
  "'defender-cleanup.timer' 'defender-firewall.service'" \
  "$(printf '%s\n' "$postinst" |
     sed -n 's/.*deb-systemd-invoke [^ ]* \(.*\) >.*/\1/p' | tr '\n' ' ' |
     sed 's/ $//')"
prerm=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./prerm)
e2e_check "the prerm stops the firewall watcher at removal" grep -q \
  "deb-systemd-invoke stop 'defender-firewall.service'" <<<"$prerm"
preinst=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./preinst)
e2e_check "an upgrade does not stop the firewall watcher" bash -c \
  "! grep -q 'stop .defender-firewall.service' <<<\"\$1\"" _ "$preinst"
e2e_check "defender-firewall.service not enabled" \
  bash -c "! DPKG_MAINTSCRIPT_PACKAGE='$pkg' deb-systemd-helper was-enabled defender-firewall.service"

# The installed module, by its plain name and by its alias, under real
# libpam (pamtester): a wrong password is counted in the store.
service=$(e2e_unique pddeb)
e2e_config
e2e_pam_service "$service" <<PAM
auth     required                 pam_defender.so preauth conf=$E2E_CONF
auth     [success=1 default=bad]  pam_unix.so nodelay
auth     [default=die]            pam_dfndr.so authfail conf=$E2E_CONF
auth     sufficient               pam_defender.so authsucc conf=$E2E_CONF
auth     required                 pam_deny.so
PAM
e2e_check "pamtester: wrong password refused" \
  bash -c "! echo wrong | pamtester $service nobody authenticate >/dev/null 2>&1"
e2e_equal "the installed module counted the failure" "1|0" \
  "$(e2e_subject user nobody)"

# The administrator enables the profiles: common-auth then names the alias
# three times, and a login through it is counted in the default store with
# the shipped defender.toml. An upgrade (dpkg -i over the installed package)
# keeps them enabled; the purge below takes them out again.
pam_auth_update() {
  DEBIAN_FRONTEND=noninteractive pam-auth-update "$@" \
    >>"$E2E_TMP/pam-auth-update.log" 2>&1 </dev/null
}
E2E_LOG_FILES+=("$E2E_TMP/pam-auth-update.log")
profiles_in_common_auth() { grep -c 'pam_dfndr\.so' /etc/pam.d/common-auth; }
e2e_check "pam-auth-update --enable succeeds" pam_auth_update --enable \
  pam_defender pam_defender_authfail pam_defender_authsucc
e2e_equal "enabled profiles: pam_dfndr.so lines in common-auth" 3 \
  "$(profiles_in_common_auth)"
common=$(e2e_unique pdcommon)
e2e_pam_service "$common" <<PAM
@include common-auth
PAM
e2e_check "pamtester through common-auth: wrong password refused" \
  bash -c "! echo wrong | pamtester $common nobody authenticate >/dev/null 2>&1"
e2e_equal "counted in the default store: failures|blocked" \
  "1|0" \
  "$("$(dirname "$0")/store_sql.py" /var/lib/pam_defender \
      "SELECT failures || '|' || blocked FROM subjects
       WHERE kind = 'user' AND subject = 'nobody'")"
e2e_equal "logged in the default journal, moved by defenderctl" "1" \
  "$(defenderctl --json attempts --user nobody --result failure |
     python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')"
dpkg -i "$deb" >"$E2E_TMP/upgrade.log" 2>&1
e2e_check "dpkg -i over the installed package succeeds" test $? -eq 0
E2E_LOG_FILES+=("$E2E_TMP/upgrade.log")
e2e_equal "profiles still enabled after the upgrade" 3 \
  "$(profiles_in_common_auth)"

# The cron file does nothing while systemd runs, else prunes the log.
e2e_check "cron file executable" test -x /etc/cron.daily/pam-defender
if [ -d /run/systemd/system ]; then
  e2e_check "cron file: no-op under systemd" /etc/cron.daily/pam-defender
else
  e2e_check "cron file: runs the cleanup without systemd" \
    /etc/cron.daily/pam-defender
fi

# Removal while the administrator's own sshd and sudo stacks name the
# module (the hand route of pam_defender(8)): refused, lines named, files
# untouched, profiles still enabled.
rm -f "/etc/pam.d/$service"
for f in sshd sudo; do
  cp -p "/etc/pam.d/$f" "$E2E_TMP/$f.orig" || e2e_fatal "cannot back up $f"
  e2e_on_exit "cp -p '$E2E_TMP/$f.orig' /etc/pam.d/$f"
done
sed -i 's/^@include common-account$/account    required     pam_defender.so enforce\n&/' \
  /etc/pam.d/sshd
sed -i 's/^@include common-auth$/auth     requisite                pam_defender.so preauth failure_limit=5\
auth     [success=1 default=bad]  pam_unix.so nullok\
auth     [default=die]            pam_defender.so authfail failure_limit=5\
auth     sufficient               pam_defender.so authsucc failure_limit=5\
auth     required                 pam_deny.so/' /etc/pam.d/sudo
edited=$(md5sum /etc/pam.d/sshd /etc/pam.d/sudo)
dpkg -r "$pkg" >"$E2E_TMP/refused.log" 2>&1
e2e_check "dpkg -r refused while sshd and sudo name the module" test $? -ne 0
E2E_LOG_FILES+=("$E2E_TMP/refused.log")
# dpkg marks the package for removal (selection "deinstall") but leaves it
# installed.
e2e_equal "still installed" "installed" \
  "$(dpkg-query -W -f='${db:Status-Status}' "$pkg")"
n=$(grep -n 'pam_defender.so enforce' /etc/pam.d/sshd | cut -d: -f1)
e2e_check "the sshd line is named" grep -qF \
  "PROBLEM removal.reference (/etc/pam.d/sshd:$n): \"account    required     pam_defender.so enforce\"" \
  "$E2E_TMP/refused.log"
for step in preauth authfail authsucc; do
  n=$(grep -n "pam_defender.so $step" /etc/pam.d/sudo | cut -d: -f1)
  e2e_check "the sudo $step line is named" grep -qF \
    "PROBLEM removal.reference (/etc/pam.d/sudo:$n): " "$E2E_TMP/refused.log"
done
e2e_equal "exactly the four hand-written lines" 4 \
  "$(grep -c '^PROBLEM removal.reference' "$E2E_TMP/refused.log")"
e2e_equal "sshd and sudo untouched" "$edited" \
  "$(md5sum /etc/pam.d/sshd /etc/pam.d/sudo)"
e2e_equal "profiles still enabled after the refused removal" 3 \
  "$(profiles_in_common_auth)"
e2e_check "the module is still there" test -e "$secdir/pam_defender.so"
# The administrator restores the stacks.
cp -p "$E2E_TMP/sshd.orig" /etc/pam.d/sshd
cp -p "$E2E_TMP/sudo.orig" /etc/pam.d/sudo

# A line pam-auth-update did not write, in a common-* file: the account
# step added to common-account by hand, with the alias common-auth shows.
# pam-auth-update takes the profiles out and leaves it; the removal then
# stops, names it and puts the profiles back.
cp -p /etc/pam.d/common-account "$E2E_TMP/common-account.orig" ||
  e2e_fatal "cannot back up common-account"
e2e_on_exit "cp -p '$E2E_TMP/common-account.orig' /etc/pam.d/common-account"
# The first with "-" before its type (which only keeps libpam from logging
# a missing module: a required one still fails every login), the second
# continued over a comment line, as libpam assembles it.
cat >>/etc/pam.d/common-account <<'PAM'
-account required pam_dfndr.so enforce
account required \
# continued
  pam_dfndr.so enforce
PAM
n=$(($(wc -l </etc/pam.d/common-account) - 3))
dpkg -r "$pkg" >"$E2E_TMP/refused-common.log" 2>&1
e2e_check "dpkg -r refused while common-account names the alias" test $? -ne 0
E2E_LOG_FILES+=("$E2E_TMP/refused-common.log")
e2e_check "the common-account line is named" grep -qF \
  "pam-defender: still names the module: /etc/pam.d/common-account:$n: -account required pam_dfndr.so enforce" \
  "$E2E_TMP/refused-common.log"
e2e_check "the continued line is named" grep -qF \
  "pam-defender: still names the module: /etc/pam.d/common-account:$((n + 1)): account required pam_dfndr.so enforce" \
  "$E2E_TMP/refused-common.log"
e2e_equal "only those lines" 2 \
  "$(grep -c '^pam-defender: still names the module: ' "$E2E_TMP/refused-common.log")"
e2e_equal "profiles put back after the refused removal" 3 \
  "$(profiles_in_common_auth)"
e2e_check "the module is still there (common-account)" \
  test -e "$secdir/pam_defender.so"
# The same with the profiles disabled: the refused removal enables none.
e2e_check "pam-auth-update --disable succeeds" pam_auth_update --disable \
  pam_defender pam_defender_authfail pam_defender_authsucc
dpkg -r "$pkg" >"$E2E_TMP/refused-common2.log" 2>&1
e2e_check "dpkg -r refused while common-account names the alias (no profiles)" \
  test $? -ne 0
E2E_LOG_FILES+=("$E2E_TMP/refused-common2.log")
e2e_equal "no profile enabled by the refused removal" 0 \
  "$(profiles_in_common_auth)"
cp -p "$E2E_TMP/common-account.orig" /etc/pam.d/common-account
e2e_check "pam-auth-update --enable again" pam_auth_update --enable \
  pam_defender pam_defender_authfail pam_defender_authsucc

# The removal goes through once no stack names the module, and takes the
# firewall's table away (its permanent elements would drop their hosts until
# a reboot). The table as `firewall sync` makes it stands for one
# `firewall watch` filled (a table holding anything else is not ours, and
# the removal leaves it).
e2e_on_exit "nft delete table inet pam_defender 2>/dev/null"
e2e_check "an nftables table inet pam_defender" nft -f - <<'NFT'
add table inet pam_defender
add set inet pam_defender blocked_v4 { type ipv4_addr; flags interval, timeout; }
add set inet pam_defender blocked_v6 { type ipv6_addr; flags interval, timeout; }
add chain inet pam_defender input { type filter hook input priority filter - 10; policy accept; }
add rule inet pam_defender input ip saddr @blocked_v4 meta l4proto { tcp, udp } th dport { 22 } drop
add rule inet pam_defender input ip6 saddr @blocked_v6 meta l4proto { tcp, udp } th dport { 22 } drop
add element inet pam_defender blocked_v4 { 192.0.2.77 }
NFT
dpkg -r "$pkg" >"$E2E_TMP/remove.log" 2>&1
e2e_check "dpkg -r succeeds once no stack names the module" test $? -eq 0
E2E_LOG_FILES+=("$E2E_TMP/remove.log")
e2e_check "module removed" test ! -e "$secdir/pam_defender.so"
e2e_equal "profiles taken out of common-auth by the removal" 0 \
  "$(profiles_in_common_auth)"
e2e_check "the removal removed the nftables table" \
  bash -c '! nft list table inet pam_defender >/dev/null 2>&1'

# Purge.
dpkg --purge "$pkg" >"$E2E_TMP/purge.log" 2>&1
e2e_check "dpkg --purge succeeds" test $? -eq 0
E2E_LOG_FILES+=("$E2E_TMP/purge.log")
e2e_equal "package gone" "" \
  "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)"
for f in "${files[@]}"; do
  e2e_check "removed: $f" test ! -e "$f" -a ! -L "$f"
done
e2e_equal "/etc/pam.d/common-* as before the install, profiles taken out" \
  "$before" "$(pam_sums)"
e2e_finish
