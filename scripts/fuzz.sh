#!/usr/bin/env bash
# Builds the libFuzzer targets tests/fuzz/fuzz_*.cpp with clang (build-fuzz/, -DBAGNET_FUZZ=ON) and
# runs each for MINUTES minutes (default 10), one after the other, each from its seeds in
# tests/fuzz/corpus/<format>/, then prints per target the executions, the corpus size and the findings.
#
#   scripts/fuzz.sh [MINUTES] [TARGET...]      e.g. scripts/fuzz.sh 10, scripts/fuzz.sh 2 fuzz_png
#
# Each fuzzer is one process at the lowest priority (nice 19), so it can share a small machine.
# What a fuzzer discovers goes to build-fuzz/tests/fuzz-corpus/<target>/ (kept between runs, so a
# later run continues from it); the committed seeds are only read. A finding (a crash, a sanitizer
# report, a leak, an input slower than 25 s or one that allocates more than 2 GB) stops that target
# and leaves its input in build-fuzz/fuzz-findings/<target>/; the script then goes on with the next
# target and exits non-zero at the end. Reproduce one with build-fuzz/bin/<target> <file>.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

minutes=${1:-10}
shift $(($# > 0 ? 1 : 0))
[[ $minutes =~ ^[0-9]+$ && $minutes -ge 1 ]] || { echo "fuzz.sh: MINUTES must be a whole number >= 1" >&2; exit 2; }

# libFuzzer ships with clang's runtime libraries (Debian: libclang-rt-14-dev).
if ! command -v clang++ >/dev/null || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" \
        >/dev/null; then
    echo "fuzz.sh: installing clang and libFuzzer" >&2
    install=(apt-get install -y clang libclang-rt-14-dev)
    [[ $EUID -eq 0 ]] || install=(sudo "${install[@]}")
    "${install[@]}" || { echo "fuzz.sh: cannot install clang" >&2; exit 1; }
fi

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=()
    for source in tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$source" .cpp)"); done
fi

build=build-fuzz
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBAGNET_FUZZ=ON \
    -DBAGNET_BUILD_EXAMPLES=OFF -DBAGNET_BUILD_BENCHMARKS=OFF >/dev/null || exit 1
nice -n 19 cmake --build "$build" -j2 --target "${targets[@]}" || exit 1

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
report=()
failed=0
for target in "${targets[@]}"; do
    scratch=$build/tests/fuzz-corpus/$target
    findings=$build/fuzz-findings/$target
    log=$build/fuzz-findings/$target.log
    rm -rf "$findings"  # what it holds afterwards is this run's
    mkdir -p "$scratch" "$findings"
    echo "fuzz.sh: $target for $minutes min (log: $log)" >&2
    # No -jobs/-workers: libFuzzer's default is the single process asked for here.
    nice -n 19 "$build/bin/$target" -max_total_time=$((minutes * 60)) -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$findings/" "$scratch" "tests/fuzz/corpus/${target#fuzz_}" \
        >"$log" 2>&1
    status=$?
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    corpus=$(find "$scratch" "tests/fuzz/corpus/${target#fuzz_}" -type f | wc -l)
    count=$(find "$findings" -type f | wc -l)
    if [[ $status -ne 0 && $count -eq 0 ]]; then count="? (exit $status, see the log)"; fi
    [[ $status -ne 0 || $count != 0 ]] && failed=1
    report+=("$(printf '%-20s %4s min  %12s executions  %6s corpus files  findings: %s' \
        "$target" "$minutes" "${executions:-?}" "$corpus" "$count")")
done
printf '%s\n' "${report[@]}"
exit $failed
