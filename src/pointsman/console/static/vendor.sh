#!/usr/bin/env bash
# Re-fetch the vendored charting library (Chart.js, MIT licence) from npm at a pinned version.
# Run from anywhere; writes chart.umd.js and chart.js.LICENSE.md beside this script.
set -euo pipefail
VERSION=4.4.7
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "chart.js@$VERSION" >/dev/null && tar xzf "chart.js-$VERSION.tgz")
cp "$tmp/package/dist/chart.umd.js" "$here/chart.umd.js"
cp "$tmp/package/LICENSE.md" "$here/chart.js.LICENSE.md"
echo "chart.js $VERSION vendored into $here"
