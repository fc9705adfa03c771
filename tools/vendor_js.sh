#!/usr/bin/env bash
# Refresh the one JavaScript library the dashboard vendors: d3 (ISC licence), the UMD bundle
# dist/d3.min.js of the npm package `d3`, copied with its LICENSE into services/web/static/vendor/.
# The dashboard never loads scripts from a CDN (the machine may be offline).
#
#   tools/vendor_js.sh            # the pinned version below
#   tools/vendor_js.sh 7.9.3      # another version (then update D3_VERSION here and docs/dashboard.md)
#
# Vendored now: d3 7.9.2, dist/d3.min.js sha256 912111098ea99503a6f4967361d2bbdc9dbf58cf9c678c8e27e5b02d1a07f0c1
set -euo pipefail

D3_VERSION="${1:-7.9.2}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/services/web/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "d3@$D3_VERSION" >/dev/null
tar xzf "d3-$D3_VERSION.tgz"
mkdir -p "$DEST"
cp package/dist/d3.min.js "$DEST/d3.min.js"
cp package/LICENSE "$DEST/d3.LICENSE.txt"
echo "d3 $D3_VERSION -> $DEST/d3.min.js"
sha256sum "$DEST/d3.min.js"
