#!/usr/bin/env bash
# The public headers include the standard library and each other only: gRPC, protobuf,
# OpenSSL, prometheus-cpp and nlohmann_json are linked PRIVATE (CMakeLists.txt), so a header
# that included one would compile here (Debian puts them all in /usr/include) and break for a
# consumer. Standard headers have neither a '/' nor a '.' in their names.
# Usage: check-public-headers.sh SOURCE_DIR
set -euo pipefail
headers=("$1"/include/frodo/*.hpp)
((${#headers[@]})) || { echo "no headers under $1/include/frodo" >&2; exit 1; }
bad="$(grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*<[^>]*[./][^>]*>' "${headers[@]}" || true)"
bad+="$(grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "${headers[@]}" | grep -v '"frodo/[a-z_]*\.hpp"' || true)"
if [[ -n "$bad" ]]; then
  echo "public headers must include only the standard library and frodo/*.hpp:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "${#headers[@]} public headers: standard library and frodo/*.hpp only"
