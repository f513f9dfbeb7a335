#!/usr/bin/env python3
"""Runs fixture generators, one per line of the file given (a script of this folder and its
arguments, shell-quoted), in this one Python process: importing torch costs seconds, and
make_all_fixtures.sh runs some twenty generators. Stops at the first that fails.

usage: python3 run_generators.py JOBS_FILE
"""
import os
import runpy
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(jobs_file):
    with open(jobs_file) as f:
        jobs = [shlex.split(line) for line in f if line.strip()]
    for job in jobs:
        script = os.path.join(HERE, job[0])
        sys.argv = [script] + job[1:]
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as e:
            if e.code not in (None, 0):
                sys.exit(f"run_generators: {' '.join(job)} failed ({e.code})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
