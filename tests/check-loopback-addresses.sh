#!/usr/bin/env bash
# The rule (docs/architecture.md, Tests and benchmarks): traffic stays on this machine. Every
# server address that a test, a benchmark or the demo registers in a live etcd, hostile fake
# records included, is on loopback: 127.0.0.0/8 or [::1].
#
# This check greps the files that talk to a real etcd for addresses that are not:
#   - IPv4 literals outside 127.0.0.0/8, whole ("10.0.0.1:3030") or a prefix that the code
#     completes ("10.0.0." + i, `10.0.${i}`, printf "10.0.%d.%d");
#   - IPv6 literals other than [::1];
#   - host names under a domain ("cache-4.example:80", "new-%04d.example:3030");
#   - letters-only hosts ("db:1") given to add_server / addServer / a guard, to --register or
#     --advertise, or written as a record's key under servers/ or as its "address".
# It cannot follow an address through a variable, nor tell a letters-only host given to
# `frodo register` or `frodo add` on a command line (tests refuse "a:1" there before any etcd
# is reached): review those by hand.
#
# A file of those folders that never reaches an etcd is listed in `offline` below, with why;
# a line of a checked file that must keep such an address (one refused before any etcd sees
# it) says why with `loopback-exempt: REASON`, on that line or on the line just above it.
#
# Usage: check-loopback-addresses.sh SOURCE_DIR
set -euo pipefail
cd "${1:?usage: check-loopback-addresses.sh SOURCE_DIR}"

# The files that talk to a real etcd (and their neighbours: cheaper to check than to sort).
mapfile -t files < <(
  {
    find tests/integration tests/cli tests/support tests/browser bench examples/alerts scripts bindings/node/test \
      -type f -not -path '*/node_modules/*' -not -name '*.md'
    echo tools/frodo/demo_command.cpp
  } | LC_ALL=C sort
)

# Files that never reach an etcd: their addresses are never registered anywhere real. A listed
# file that shows a sign of a real etcd is checked after all.
offline=(
  tests/cli/ring_cli_test.cpp         # `frodo ring`: offline rings from files
  tests/support/fault_proxy_test.cpp  # FaultProxy before local upstreams; it refuses the others
  bench/guard_bench.cpp               # over the in-memory registry
  bench/lookup_bench.cpp              # over the in-memory registry
  bench/compare-hashring              # offline rings, frodo's against node-hashring's
)
etcd_signs='EtcdCluster|Etcd\.start|etcdctl|--etcd|FRODO_ETCD|etcd_?\.endpoint|EtcdOptions|etcdServers|setUp\('
for file in "${offline[@]}"; do
  if grep -qE "$etcd_signs" "$file"; then continue; fi
  for j in "${!files[@]}"; do [[ "${files[j]}" == "$file" ]] && unset 'files[j]'; done
done
files=("${files[@]}")

host='[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*:\d+'  # a host name with a port
q='\\?["'"'"'`]'                                       # a quote, maybe escaped: " ' ` \"
rules=(
  'IPv4 outside 127.0.0.0/8'
  '(?<![\d.])(?!127\.)\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.])'
  'IPv4 prefix outside 127.0.0.0/8'
  '(?<![\d.])(?!127\.)\d{1,3}\.\d{1,3}\.(?:\d{1,3}\.)?(?=["'"'"'`%]|\$\{)'
  'IPv6 other than [::1]'
  '\[(?!::1\])[0-9A-Fa-f]*:[0-9A-Fa-f:.]*\]:\d'
  'host name under a domain'
  '\.(?:example|local|localdomain|internal|invalid|test|lan|corp|home|com|net|org|io):(?:\d|%|\$\{)'
  'letters-only host registered'
  "(?:\\b(?:add_server|remove_server|addServer|removeServer|guard)\\(\\s*|\\bGuard(?:>\\s*|\\s+\\w+\\s*)\\([^\"'\`;]*|[\"']--(?:register|advertise)[\"'],\\s*)${q}${host}${q}"
  'letters-only host in a record'
  "(?:servers/${host}${q}|${q}address${q}\\s*[:,]\\s*${q}${host}${q}|\\baddress:\\s*${q}${host}${q})"
)

failed=0
for ((i = 0; i < ${#rules[@]}; i += 2)); do
  name="${rules[i]}" pattern="${rules[i + 1]}"
  for file in "${files[@]}"; do
    while IFS= read -r n; do
      # Exempt: a marker on the line or on the line above it.
      sed -n "$((n > 1 ? n - 1 : 1)),${n}p" "$file" | grep -q 'loopback-exempt:' && continue
      echo "$file:$n: $name: $(sed -n "${n}p" "$file" | sed 's/^[[:space:]]*//')"
      failed=1
    done < <(grep -anP -e "$pattern" "$file" | cut -d: -f1)
  done
done

if ((failed)); then
  echo "check-loopback-addresses: the lines above register (or may register) a server address off loopback" \
    "in a live etcd; use 127.0.0.0/8 or [::1] (or mark a line that never reaches etcd: loopback-exempt: REASON)" >&2
  exit 1
fi
echo "check-loopback-addresses: ${#files[@]} files, every server address on loopback"
