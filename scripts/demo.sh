#!/usr/bin/env bash
# Builds the release `bagnet` command line (build/bin/bagnet) and shows what it does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
cmake --preset release
cmake --build --preset release
echo "demo.sh: build/bin/bagnet is built; the walkthrough is still to be written"
