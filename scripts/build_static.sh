#!/usr/bin/env bash
# Install the browser dependencies from npm (exact versions from package-lock.json) and put what
# the pages need under static/: the NiiVue ES module bundle in static/vendor/niivue/ and the MNI152
# brain of the home page in static/brain/. Nothing is fetched from a CDN at run time.
# Idempotent: safe to run again; both output folders are git-ignored.
#
# Usage: scripts/build_static.sh        (from anywhere; PYTHON=... to use another interpreter)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

if ! command -v npm >/dev/null 2>&1; then
    echo "build_static: npm is not installed (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
if [ ! -x "$PYTHON" ]; then
    echo "build_static: no Python at $PYTHON (create the virtual environment first, or set PYTHON)" >&2
    exit 1
fi

# 1. npm packages, exactly as locked (--prefer-offline: a second run is served from npm's cache).
#    The dev dependency axe-core stays in node_modules/: the browser tests inject it into each page
#    (tests/browser/test_accessibility.py); the app never serves it.
npm ci --no-audit --no-fund --prefer-offline
if [ ! -f node_modules/axe-core/axe.min.js ]; then
    echo "build_static: node_modules/axe-core/axe.min.js is missing: is axe-core in package.json?" >&2
    exit 1
fi

# 2. NiiVue's self-contained ES module bundle (the package's exports map hides dist/, so copy it).
SRC="node_modules/@niivue/niivue/dist"
DEST="static/vendor/niivue"
if [ ! -f "$SRC/index.js" ]; then
    echo "build_static: $SRC/index.js is missing: is @niivue/niivue in package.json?" >&2
    exit 1
fi
rm -rf "$DEST.tmp"
mkdir -p "$DEST.tmp"
cp "$SRC/index.js" "$SRC/index.js.map" "$DEST.tmp/"
cp node_modules/@niivue/niivue/package.json "$DEST.tmp/package.json"
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"
echo "build_static: NiiVue $(node -p 'require("./node_modules/@niivue/niivue/package.json").version') -> $DEST/"

# 3. The home page's brain: the MNI152 T1 template packaged with nilearn (no download).
"$PYTHON" scripts/export_brain.py static/brain/mni152.nii.gz
