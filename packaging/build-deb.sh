#!/bin/bash
# Builds the Debian package from this source tree.
#
# dpkg-buildpackage expects debian/ at the source root; the tree keeps it in
# packaging/debian so that the repository root stays the upstream layout. The
# script copies the tree (without .git and build directories) to a temporary
# directory, puts packaging/debian there as debian/, and runs
# `dpkg-buildpackage -us -uc -b` with DEB_BUILD_OPTIONS=nocheck (the test
# suite needs root and services; it runs from the tree, not from the package
# build).
#
# Usage: packaging/build-deb.sh [OUTDIR]   (default: ./dist)
# The .deb, .buildinfo and .changes files end up in OUTDIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$work/pam-defender
mkdir "$src"
tar -C "$root" --exclude=./.git --exclude='./build*' --exclude=./dist \
  --exclude='./.test-*' --exclude=./packaging -cf - . | tar -C "$src" -xf -
cp -r "$root/packaging/debian" "$src/debian"

(
  cd "$src"
  export DEB_BUILD_OPTIONS="nocheck parallel=${BUILD_JOBS:-2} ${DEB_BUILD_OPTIONS:-}"
  dpkg-buildpackage -us -uc -b
)
find "$work" -maxdepth 1 -type f \( -name '*.deb' -o -name '*.buildinfo' \
  -o -name '*.changes' \) -exec mv -t "$out" {} +
ls "$out"/*.deb
