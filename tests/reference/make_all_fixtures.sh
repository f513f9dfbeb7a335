#!/usr/bin/env bash
# Writes every PyTorch reference fixture into the directory given as $1; ctest runs it once, as the
# `make_fixtures` setup test, before any Catch test.
#
# Add one line per generator, e.g.
#   "$PYTHON" "$HERE/make_fixture.py" --output "$DIR/some_fixture"
# Generators should skip work whose outputs already exist and are newer than their inputs, since this
# runs on every ctest invocation.
#
# The environment comes from tests/CMakeLists.txt: BAGNET_PYTHON (Debian's python3, which has torch),
# BAGNET_SOURCE_DIR, BAGNET_BIN, BAGNET_FIXTURE_DIR.
set -euo pipefail

DIR=${1:?usage: make_all_fixtures.sh OUTPUT_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${BAGNET_PYTHON:-/usr/bin/python3}
mkdir -p "$DIR"
