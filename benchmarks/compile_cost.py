#!/usr/bin/env python3
"""What a consumer pays to compile against bagnet: seconds and peak compiler memory for fixed
consumer translation units (benchmarks/compile_cost/*.cpp), header-only and against the compiled
part (bagnet::compiled, bagnet/instances.hpp), in the same run, with the Release flags (-O2).

usage: python3 benchmarks/compile_cost.py [--build build] [--repeat 3] [--cxx g++]

--build names a configured build tree; its libbagnet_compiled.a is built first if missing, and
each compiled-mode object is linked against it once to prove that it is complete. Also reports
the parse cost of the umbrella headers alone (-fsyntax-only). Each number is the median of
--repeat runs; the machine should be otherwise idle.
"""
import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNITS = os.path.join(ROOT, "benchmarks", "compile_cost")
FLAGS = ["-std=c++17", "-O2", "-fopenmp", "-I" + os.path.join(ROOT, "include"), "-isystem", "/usr/include/eigen3",
         "-isystem", "/usr/include/stb"]
LIBS = ["-ldnnl", "-fopenmp", "-lpng", "-ljpeg", "-lz", "-lpthread"]


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def timed(command):
    """(seconds, peak KB) of one command, from GNU time; exits on failure."""
    result = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("compile_cost: failed: " + " ".join(command) + "\n" + result.stderr[-3000:])
    seconds, kb = result.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kb)


def measure(command, repeat):
    runs = [timed(command) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cxx", default="g++")
    args = parser.parse_args()

    library = os.path.join(args.build, "libbagnet_compiled.a")
    if subprocess.run(["cmake", "--build", args.build, "--target", "bagnet_compiled"],
                      capture_output=True).returncode != 0 or not os.path.exists(library):
        sys.exit(f"compile_cost: cannot build bagnet_compiled in {args.build} (configure it first: cmake --preset release)")
    version = subprocess.run([args.cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    print(f"# compile cost, {cpu_name()}, {os.cpu_count()} cores, {version}, -O2, median of {args.repeat}")
    print(f"{'translation unit':<34} {'header-only':>18} {'with bagnet::compiled':>24}")

    with tempfile.TemporaryDirectory() as scratch:
        for name in sorted(os.listdir(UNITS)):
            if not name.endswith(".cpp"):
                continue
            source = os.path.join(UNITS, name)
            obj = os.path.join(scratch, name + ".o")
            alone = measure([args.cxx] + FLAGS + ["-c", source, "-o", obj], args.repeat)
            compiled = measure([args.cxx] + FLAGS + ["-DBAGNET_COMPILED=1", "-c", source, "-o", obj], args.repeat)
            # The compiled-mode object links against the library alone: nothing is missing from it.
            subprocess.run([args.cxx, obj, library, "-o", os.path.join(scratch, "a.out")] + LIBS, check=True)
            print(f"{name + ' -c':<34} {alone[0]:>7.2f} s {alone[1] / 1024:>5.0f} MB"
                  f" {compiled[0]:>13.2f} s {compiled[1] / 1024:>5.0f} MB")
        for header in ["bagnet/bagnet.hpp", "bagnet/explain.hpp", "bagnet/robust.hpp", "bagnet/train.hpp"]:
            unit = os.path.join(scratch, re.sub(r"\W", "_", header) + ".cpp")
            with open(unit, "w") as f:
                f.write(f"#include <{header}>\n")
            alone = measure([args.cxx] + FLAGS + ["-fsyntax-only", unit], args.repeat)
            compiled = measure([args.cxx] + FLAGS + ["-DBAGNET_COMPILED=1", "-fsyntax-only", unit], args.repeat)
            print(f"{header + ' (parse)':<34} {alone[0]:>7.2f} s {alone[1] / 1024:>5.0f} MB"
                  f" {compiled[0]:>13.2f} s {compiled[1] / 1024:>5.0f} MB")


if __name__ == "__main__":
    main()
