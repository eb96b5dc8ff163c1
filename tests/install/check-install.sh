#!/usr/bin/env bash
# Installs the built project into a temp prefix, then builds a consumer against it twice:
# with find_package(frodo) and with pkg-config. Both must print the owner the CLI prints.
# Usage: check-install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1" source="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
expected="$(printf 'someId\n' | "$work/prefix/bin/frodo" ring lookup --servers <(printf '10.0.0.1:3030\n10.0.0.2:3030\n10.0.0.3:3030\n'))"

cmake -S "$source/tests/install/consumer" -B "$work/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
got_cmake="$("$work/cmake-build/consumer")"

export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig"
# shellcheck disable=SC2046
c++ -o "$work/pc-consumer" "$source/tests/install/consumer/main.cpp" $(pkg-config --cflags --libs --static frodo)
got_pc="$("$work/pc-consumer")"

echo "cli=$expected find_package=$got_cmake pkg-config=$got_pc"
[[ -n "$expected" && "$got_cmake" == "$expected" && "$got_pc" == "$expected" ]]
