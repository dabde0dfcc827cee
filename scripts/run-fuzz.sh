#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (the CMake build uses g++, which has no libFuzzer)
# and runs each for N seconds (default 10). Usage: scripts/run-fuzz.sh [seconds] [target...]
#
# Incremental: the script writes build-fuzz/build.ninja and lets ninja track sources and headers (depfiles),
# so a re-run with nothing changed starts fuzzing at once. Seeds come from real files written by
# make_seed_corpus (build-fuzz/seeds); what the fuzzer learns accumulates in build-fuzz/corpus (never
# committed). A finding stops the run with a non-zero exit; the input is saved in build-fuzz/artifacts/.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${1:-10}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(wal_record_fuzz snapshot_fuzz wal_segment_fuzz api_request_fuzz repl_frame_fuzz)

CXX="${FUZZ_CXX:-clang++-14}"
command -v "$CXX" >/dev/null || { echo "run-fuzz: $CXX not found (scripts/install-deps.sh installs clang-14)" >&2; exit 1; }
out=build-fuzz
mkdir -p "$out"

# toml++ as Debian ships it: a compiled shared library (see its pkg-config file).
toml_flags="$(pkg-config --cflags tomlplusplus 2>/dev/null || echo "-DTOML_HEADER_ONLY=0 -DTOML_SHARED_LIB=1")"
# ninja runs the compiler from $out, hence the ../ in every path.
# -Wthread-safety: this is the project's clang build of every library source, so it also checks the lock
# annotations (base/mutex.hpp) and fails on an access to guarded state without its mutex.
common="-std=c++20 -g1 -O1 -fno-omit-frame-pointer -Wthread-safety -Werror=thread-safety -I../include -I../src -I../tests $toml_flags"
libs="-ltomlplusplus -lxxhash -lzstd -lboost_json -lpthread"

# Sources of the library, in dependency order (DESIGN.md §3); globbed so new files are picked up.
lib_sources=()
for module in base schema storage entity version txn persist; do
  for f in src/$module/*.cpp; do lib_sources+=("$f"); done
done
# Test code the fuzzers share with the suites: the fault-injection file system (tests/support, which the
# CMake build compiles into the ecsdb_testing library).
lib_sources+=(tests/support/*.cpp)
# The server's request decoders (no networking: api_request_fuzz drives them directly).
lib_sources+=(src/server/json_codec.cpp src/server/predicate.cpp src/server/transaction_request.cpp)
# The replication frame codec (repl_frame_fuzz).
lib_sources+=(src/replication/protocol.cpp src/replication/compression.cpp)

# ---- build.ninja: rewritten only when its text changes, so ninja's state stays valid ----
ninja_file="$out/build.ninja.new"
{
  echo "ninja_required_version = 1.10"
  echo "cxx = $(command -v ccache >/dev/null && echo "ccache ")$CXX"
  echo "common = $common"
  echo "rule cc"
  echo "  command = \$cxx \$common \$flags -MMD -MF \$out.d -c \$in -o \$out"
  echo "  depfile = \$out.d"
  echo "  deps = gcc"
  echo "  description = CXX \$in"
  echo "rule link"
  echo "  command = \$cxx \$flags \$in -o \$out $libs"
  echo "  description = LINK \$out"
  # Library and seed-generator objects: coverage instrumentation without libFuzzer's main.
  lib_objects=()
  for f in "${lib_sources[@]}" tests/fuzz/make_seed_corpus.cpp; do
    obj="obj/${f%.cpp}.o"
    echo "build $obj: cc ../$f"
    echo "  flags = -fsanitize=fuzzer-no-link,address,undefined"
    [[ $f != tests/fuzz/* ]] && lib_objects+=("$obj")
  done
  echo "build make_seed_corpus: link obj/tests/fuzz/make_seed_corpus.o ${lib_objects[*]}"
  echo "  flags = -fsanitize=address,undefined"
  for t in wal_record_fuzz snapshot_fuzz wal_segment_fuzz api_request_fuzz repl_frame_fuzz; do
    echo "build obj/tests/fuzz/$t.o: cc ../tests/fuzz/$t.cpp"
    echo "  flags = -fsanitize=fuzzer,address,undefined"
    echo "build $t: link obj/tests/fuzz/$t.o ${lib_objects[*]}"
    echo "  flags = -fsanitize=fuzzer,address,undefined"
  done
} > "$ninja_file"
if cmp -s "$ninja_file" "$out/build.ninja"; then rm "$ninja_file"; else mv "$ninja_file" "$out/build.ninja"; fi

ninja -C "$out" -j "${FUZZ_JOBS:-$(nproc)}" --quiet make_seed_corpus "${targets[@]}" >/dev/null || {
  echo "run-fuzz: build failed; rerun 'ninja -C $out' to see why" >&2
  exit 1
}

# Seeds: regenerated when the generator (or the library it links) changed.
if [[ ! -f "$out/seeds/.stamp" || "$out/make_seed_corpus" -nt "$out/seeds/.stamp" ]]; then
  rm -rf "$out/seeds"
  ASAN_OPTIONS=detect_leaks=1 "$out/make_seed_corpus" "$out/seeds" >/dev/null
  touch "$out/seeds/.stamp"
fi

declare -A max_len=([wal_record_fuzz]=16384 [snapshot_fuzz]=65536 [wal_segment_fuzz]=16384 [api_request_fuzz]=4096 [repl_frame_fuzz]=16384)
declare -A seed_dir=([wal_record_fuzz]=wal_record [snapshot_fuzz]=snapshot [wal_segment_fuzz]=wal_segment [api_request_fuzz]=api_request [repl_frame_fuzz]=repl_frame)
status=0
for t in "${targets[@]}"; do
  mkdir -p "$out/corpus/$t" "$out/artifacts"
  log="$out/$t.log"
  if ! "$out/$t" -max_total_time="$seconds" -max_len="${max_len[$t]}" -rss_limit_mb=512 -malloc_limit_mb=256 \
       -timeout=10 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" \
       "$out/corpus/$t" "$out/seeds/${seed_dir[$t]}" >"$log" 2>&1; then
    echo "run-fuzz: $t FOUND A PROBLEM (log: $log, input: $out/artifacts/$t-*)" >&2
    grep -m 5 -E "ERROR|SUMMARY|runtime error" "$log" >&2 || tail -20 "$log" >&2
    status=1
    continue
  fi
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  corpus="$(find "$out/corpus/$t" -type f | wc -l)"
  echo "run-fuzz: $t ok: $runs executions in ${seconds}s, corpus $corpus inputs"
done
exit "$status"
