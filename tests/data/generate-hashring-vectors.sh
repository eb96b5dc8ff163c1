#!/usr/bin/env bash
# Regenerates tests/data/hashring-vectors.jsonl from node-hashring 3.2.0 (npm), in a scratch
# folder that is removed afterwards. Needs node and npm; the tests themselves do not.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund hashring@3.2.0 >/dev/null)
NODE_PATH="$scratch/node_modules" node "$here/generate-hashring-vectors.js" > "$here/hashring-vectors.jsonl.tmp"
mv "$here/hashring-vectors.jsonl.tmp" "$here/hashring-vectors.jsonl"
echo "wrote $here/hashring-vectors.jsonl ($(wc -l < "$here/hashring-vectors.jsonl") rings)"
