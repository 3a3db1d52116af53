#!/bin/sh
# meson install script: installs the example configuration as DEST unless a
# file is already there, so that an administrator's configuration is never
# overwritten. Honours DESTDIR (package builds start from an empty tree).
# Usage: install-config.sh SOURCE DEST
set -eu
src=$1
dest=${DESTDIR:-}$2
if [ -e "$dest" ] || [ -L "$dest" ]; then
  echo "Keeping existing $dest"
  exit 0
fi
# An existing directory keeps its mode (install -d would reset it: a 0750
# /etc/security would become 0755).
dir=$(dirname "$dest")
[ -d "$dir" ] || install -d -m 0755 "$dir"
install -m 0644 "$src" "$dest"
echo "Installing $dest"
