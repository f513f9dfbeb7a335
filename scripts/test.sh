#!/usr/bin/env bash
# Builds everything with AddressSanitizer + UBSan and warnings as errors (build-asan/), then runs all
# tests: the Catch tests, the Python reference self-checks and the installed-package consumer.
# Where the CUDA toolkit is installed, the cuda backend is built too (build-asan-cuda/) and its tests
# run: on a machine without a GPU they check the error a user gets and report the rest as skipped.
#
# The last line counts every test of every ctest run: "N passed, N failed, N skipped". A build that
# fails counts as one failed test, and the script exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

results=()        # the JUnit files of the ctest runs
build_failures=0

# Configures and builds a preset; on failure counts it and returns non-zero.
build() {
    local preset=$1
    shift
    if ! cmake --preset "$preset" -DBAGNET_WERROR=ON || ! cmake --build --preset "$preset" "$@"; then
        echo "test.sh: the $preset build failed" >&2
        build_failures=$((build_failures + 1))
        return 1
    fi
}

# Runs a preset's tests, keeping their results for the summary.
run_tests() {
    local preset=$1 dir=$2
    shift 2
    ctest --preset "$preset" --output-junit "$PWD/$dir/results.xml" "$@"
    results+=("$dir/results.xml")
}

summary() {
    /usr/bin/python3 - "$build_failures" "${results[@]}" <<'EOF'
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
failed += int(sys.argv[1])
for path in sys.argv[2:]:
    try:
        suite = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        print(f"test.sh: no results in {path}: counted as one failed test run", file=sys.stderr)
        failed += 1
        continue
    for case in suite.iter("testcase"):
        status = case.get("status", "")
        if case.find("failure") is not None or case.find("error") is not None or status == "fail":
            failed += 1
        elif case.find("skipped") is not None or status in ("notrun", "disabled"):
            skipped += 1
        else:
            passed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
EOF
}

scripts/install-deps.sh || exit 1

if build sanitize; then
    run_tests sanitize build-asan
fi

# The sanitized CUDA build takes about 9 minutes on 2 cores, which the 35-minute budget cannot
# spare where no GPU can run what it builds (there it would only run the [no-gpu] checks). It is
# built where a GPU answers nvidia-smi, or where BAGNET_TEST_CUDA=1 asks for it. The CUDA command
# line is left to scripts/gpu-bundle.sh: it is the longest compile of all.
if ! { [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null; }; then
    echo "test.sh: no CUDA toolkit here, so the cuda backend was not built"
elif [ "${BAGNET_TEST_CUDA:-0}" != 1 ] && ! nvidia-smi -L >/dev/null 2>&1; then
    echo "test.sh: no GPU here, so the cuda backend was not built (BAGNET_TEST_CUDA=1 builds it anyway)"
else
    if build sanitize-cuda --target bagnet_cuda_tests cuda_speed; then
        run_tests sanitize-cuda build-asan-cuda -L cuda
    fi
fi

summary
