#!/usr/bin/env bash
# The usage examples that readers copy cannot drift from compiled code:
# - every ```cpp block of README.md is, verbatim, a "begin snippet: README" region of a file
#   in tests/snippets, and every such region is a README block (no stale copy);
# - every "begin snippet: include/frodo/X.hpp" region appears verbatim in that header's
#   comments, each line as "//   LINE" ("//" for an empty one).
# Regions run from "// begin snippet: WHERE" to "// end snippet" and are compared after
# removing their common indentation.
# Usage: check-snippets.sh SOURCE_DIR
set -euo pipefail
source_dir="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "check-snippets: $*" >&2; failures=$((failures + 1)); }

# README's ```cpp blocks: $work/readme.N
awk -v out="$work/readme." '
  /^```cpp[[:space:]]*$/ { n++; inside = 1; printf "" > (out n); next }
  /^```[[:space:]]*$/ && inside { inside = 0; close(out n); next }
  inside { print > (out n) }' "$source_dir/README.md"

# The regions: $work/region.N, with their target in $work/region.N.where
n=0
for file in "$source_dir"/tests/snippets/*.cpp; do
  while IFS= read -r line; do
    n=$((n + 1))
    start="${line%%:*}" where="${line#*:}"
    where="${where#*begin snippet: }"
    awk -v start="$start" 'NR > start && /\/\/ end snippet/ { exit } NR > start { print }' "$file" > "$work/raw.$n"
    # Remove the common indentation of the non-empty lines.
    indent="$(awk 'NF { match($0, /^ */); if (min == "" || RLENGTH < min) min = RLENGTH } END { print min + 0 }' "$work/raw.$n")"
    awk -v k="$indent" '{ print substr($0, k + 1) }' "$work/raw.$n" > "$work/region.$n"
    printf '%s\n' "$where" > "$work/region.$n.where"
    printf '%s\n' "${file#"$source_dir"/}" > "$work/region.$n.file"
  done < <(grep -n '// begin snippet: ' "$file" | sed 's/^\([0-9]*\):.*\/\/ begin snippet: /\1:begin snippet: /')
done

readme_blocks=("$work"/readme.*)
[[ -e "${readme_blocks[0]}" ]] || fail "README.md has no \`\`\`cpp block"
for block in "${readme_blocks[@]}"; do
  [[ -e "$block" ]] || continue
  found=0
  for where in "$work"/region.*.where; do
    region="${where%.where}"
    [[ "$(cat "$where")" == README ]] && cmp -s "$block" "$region" && found=1
  done
  ((found)) || fail "README.md's cpp block ${block##*.} (starting '$(head -1 "$block")') is in no tests/snippets file"
done
checked=0
for where_file in "$work"/region.*.where; do
  [[ -e "$where_file" ]] || continue
  region="${where_file%.where}" where="$(cat "$where_file")" file="$(cat "$region.file")"
  checked=$((checked + 1))
  if [[ "$where" == README ]]; then
    found=0
    for block in "${readme_blocks[@]}"; do cmp -s "$block" "$region" && found=1; done
    ((found)) || fail "$file: its README region is no longer a cpp block of README.md"
  elif [[ -f "$source_dir/$where" ]]; then
    expected="$(sed 's/^\/\/ \.\.\.$/.../; s/^/\/\/   /; s/^\/\/   $/\/\//' "$region")"
    header="$(cat "$source_dir/$where")"
    [[ "$header" == *"$expected"* ]] || fail "$file: its example is not, verbatim, in $where's comments:
$expected"
  else
    fail "$file: no such file: $where"
  fi
done
((failures == 0)) || exit 1
echo "${#readme_blocks[@]} README blocks, $checked regions in tests/snippets: verbatim"
