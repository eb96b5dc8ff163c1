#!/usr/bin/env bash
# Installs frodo into temp prefixes and builds a downstream consumer (tests/install/consumer)
# against each, with find_package(frodo) and with pkg-config:
#   static  BUILD_DIR itself (the default, static libfrodo.a), with its CLI;
#   shared  the library alone rebuilt with -DBUILD_SHARED_LIBS=ON, in BUILD_DIR/shared-check
#           (kept between runs, so after the first run it is an incremental build; inside the
#           source tree, so ccache's CCACHE_BASEDIR makes its compilations hit across clones).
# Every consumer must print the owner the CLI prints and pass its Cluster and Guard checks.
# The shared package must need nothing but frodo: no find_package of gRPC, protobuf, OpenSSL
# or prometheus-cpp, and `pkg-config --libs frodo` is -L and -lfrodo alone. Neither .pc may
# force a language standard or leak a define into a consumer's Cflags.
# Usage: check-install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$(cd "$1" && pwd)" source="$(cd "$2" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "check-install: $*" >&2; exit 1; }
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }

cmake --install "$build" --prefix "$work/static" >/dev/null
expected="$(printf 'someId\n' | "$work/static/bin/frodo" ring lookup --servers <(printf '10.0.0.1:3030\n10.0.0.2:3030\n10.0.0.3:3030\n'))"
[[ -n "$expected" ]] || fail "the CLI printed no owner"
compiler="$(cache CMAKE_CXX_COMPILER)"
build_type="$(cache CMAKE_BUILD_TYPE)"

shared_build="$build/shared-check"
start=$SECONDS
cmake -S "$source" -B "$shared_build" -G Ninja -DCMAKE_CXX_COMPILER="$compiler" -DCMAKE_BUILD_TYPE="$build_type" \
  -DBUILD_SHARED_LIBS=ON -DFRODO_BUILD_TESTS=OFF -DFRODO_BUILD_TOOLS=OFF -DFRODO_BUILD_BENCH=OFF \
  -DFRODO_BUILD_NODE=OFF >/dev/null
cmake --build "$shared_build" --target frodo --parallel 2 >/dev/null
cmake --install "$shared_build" --prefix "$work/shared" >/dev/null
echo "shared library built in $((SECONDS - start)) s"

# consumer KIND: builds and runs the consumer against $work/KIND both ways; prints its output.
consumer() {
  local kind="$1" prefix="$work/$1" extra=() static=()
  if [[ "$kind" == shared ]]; then
    # The shared package must configure with every dependency of the library unfindable.
    extra=(-DCMAKE_DISABLE_FIND_PACKAGE_gRPC=ON -DCMAKE_DISABLE_FIND_PACKAGE_Protobuf=ON
      -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON -DCMAKE_DISABLE_FIND_PACKAGE_prometheus-cpp=ON)
  else
    static=(--static)
  fi
  cmake -S "$source/tests/install/consumer" -B "$work/$kind-cmake" -G Ninja -DCMAKE_CXX_COMPILER="$compiler" \
    --no-warn-unused-cli -DCMAKE_PREFIX_PATH="$prefix" "${extra[@]}" >/dev/null || fail "$kind: the consumer's CMake configure failed"
  cmake --build "$work/$kind-cmake" >/dev/null
  local pc_path
  pc_path="$(dirname "$(find "$prefix" -name frodo.pc)")"
  local cflags libs
  cflags="$(PKG_CONFIG_PATH="$pc_path" pkg-config --cflags frodo)"
  libs="$(PKG_CONFIG_PATH="$pc_path" pkg-config --libs "${static[@]}" frodo)"
  [[ "$cflags" != *-std=* && "$cflags" != *-D* ]] || fail "$kind: frodo.pc's Cflags force '$cflags'"
  echo "$kind: pkg-config --libs ${static[*]}: $(wc -w <<<"$libs") flags; Cflags: $cflags" >&2
  # shellcheck disable=SC2086
  "$compiler" -std=c++20 -o "$work/$kind-pc" "$source/tests/install/consumer/main.cpp" $cflags $libs
  local from_cmake from_pc
  from_cmake="$("$work/$kind-cmake/consumer")" || fail "$kind: the find_package consumer failed: $from_cmake"
  from_pc="$(LD_LIBRARY_PATH="$prefix/lib:$(dirname "$pc_path")" "$work/$kind-pc")" \
    || fail "$kind: the pkg-config consumer failed: $from_pc"
  [[ "$from_cmake" == "$from_pc" ]] || fail "$kind: find_package printed '$from_cmake', pkg-config '$from_pc'"
  echo "$from_cmake"
}

static_out="$(consumer static)"
shared_out="$(consumer shared)"

# The shared consumer links libfrodo by its SONAME and nothing of gRPC directly.
library="$(find "$work/shared" -name 'libfrodo.so.*.*.*' | head -1)"
soname="$(readelf -d "$library" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
[[ "$soname" =~ ^libfrodo\.so\.[0-9]+(\.[0-9]+)?$ ]] || fail "libfrodo's SONAME is '$soname'"
needed="$(readelf -d "$work/shared-cmake/consumer" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')"
[[ " $needed" == *" $soname "* ]] || fail "the shared consumer does not need $soname: $needed"
[[ "$needed" != *grpc* && "$needed" != *protobuf* ]] || fail "the shared consumer links gRPC itself: $needed"

echo "cli=$expected soname=$soname"
echo "static: ${static_out//$'\n'/ | }"
echo "shared: ${shared_out//$'\n'/ | }"
want="$expected"$'\n'"cluster owner=1 admitted=1 left=1"
[[ "$static_out" == "$want" && "$shared_out" == "$want" ]] || fail "a consumer's answers differ from the CLI's"
