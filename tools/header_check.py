#!/usr/bin/env python3
"""Compiles every header of include/bagnet on its own (-fsyntax-only), so that each includes what
it uses: the tests and programs link bagnet::compiled and no longer instantiate every header's
templates themselves. Every header is compiled with BAGNET_COMPILED=1, where no _impl.hpp is
included, so each header must include what it uses itself; the headers that have an _impl.hpp are
also compiled header-only, which checks the _impl.hpp. (Header-only, any other header sees only
more declarations than with BAGNET_COMPILED=1, so one pass over it suffices.) --all-modes
compiles every header both ways.

usage: python3 tools/header_check.py [--cxx c++] [--jobs N] [--all-modes] [--skip HEADER]...
                                     [-- extra compiler flags]
Exit status 1, with the compiler's first lines for each header, when any fails.
"""
import argparse
import concurrent.futures
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE = os.path.join(ROOT, "include")
FLAGS = ["-std=c++17", "-fopenmp", "-I" + INCLUDE, "-isystem", "/usr/include/eigen3", "-isystem", "/usr/include/stb",
         "-Wall", "-Wextra"]
MODES = {"header-only": [], "compiled": ["-DBAGNET_COMPILED=1"]}


def headers():
    found = []
    for folder, _, files in os.walk(os.path.join(INCLUDE, "bagnet")):
        for name in files:
            if name.endswith(".hpp") and not name.endswith("_impl.hpp"):
                found.append(os.path.relpath(os.path.join(folder, name), INCLUDE))
    # The CUDA backend's headers need the CUDA toolkit; its own build compiles them.
    return sorted(h for h in found if not h.startswith("bagnet/backend/cuda/") and "/detail/stb_warnings" not in h)


def check(cxx, header, mode, extra):
    unit = f'#include "{header}"\n'
    result = subprocess.run([cxx] + FLAGS + MODES[mode] + extra + ["-fsyntax-only", "-x", "c++", "-"],
                            input=unit, capture_output=True, text=True)
    return header, mode, result.returncode, result.stderr


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cxx", default=os.environ.get("CXX", "c++"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--all-modes", action="store_true")
    parser.add_argument("--skip", action="append", default=[], help="a header not to check (bagnet/...)")
    args = parser.parse_args(argv)

    def has_impl(header):
        return os.path.exists(os.path.join(INCLUDE, header[:-len(".hpp")] + "_impl.hpp"))

    units = [(h, m) for h in headers() if h not in args.skip for m in MODES
             if m == "compiled" or args.all_modes or has_impl(h)]
    failures = 0
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(check, args.cxx, h, m, extra) for h, m in units]
        for job in jobs:
            header, mode, status, errors = job.result()
            if status != 0 or errors.strip():
                failures += 1
                print(f"{header} ({mode}) does not compile on its own:", file=sys.stderr)
                print("\n".join(errors.splitlines()[:12]), file=sys.stderr)
    print(f"header_check: {len(units) - failures} of {len(units)} header compilations on their own are clean")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
