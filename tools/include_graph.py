#!/usr/bin/env python3
"""Checks bagnet's include structure: no header is in an include cycle, and no folder of
include/bagnet/ (layers, backend, train, ...) includes a folder that includes it back, directly
or through the top-level headers (arch.hpp, parameters.hpp, ...) in between.

usage: python3 tools/include_graph.py [--print] [--cost]
  exit status 1 on a cycle; --print: the folder graph; --cost: each header's transitive include cost,
  header-only and with the compiled part (BAGNET_COMPILED=1): the preprocessed lines a translation
  unit that includes it alone parses, and which heavy libraries (oneDNN, Eigen, xtensor, ...) it pulls.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "include")
INCLUDE = re.compile(r'^\s*#\s*include\s+"(bagnet/[^"]+)"', re.M)


def headers():
    graph = {}
    for folder, _, files in os.walk(os.path.join(ROOT, "bagnet")):
        for name in files:
            if name.endswith((".hpp", ".inc")):
                path = os.path.relpath(os.path.join(folder, name), ROOT)
                with open(os.path.join(ROOT, path)) as f:
                    graph[path] = [h for h in INCLUDE.findall(f.read()) if os.path.exists(os.path.join(ROOT, h))]
    return graph


def folder(path):
    parts = path.split("/")
    return parts[1] if len(parts) > 2 else None  # None: a top-level header


def find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def folder_graph(graph):
    """Folder A -> folder B where a header in A reaches one in B through top-level headers only."""
    edges = {}
    for path in graph:
        source = folder(path)
        if source is None:
            continue
        seen, todo = set(), list(graph[path])
        while todo:
            h = todo.pop()
            if h in seen:
                continue
            seen.add(h)
            target = folder(h)
            if target is None:
                todo.extend(graph.get(h, ()))
            elif target != source:
                edges.setdefault(source, set()).add(target)
    return edges


HEAVY = {"oneDNN": "/dnnl", "Eigen": "/Eigen/", "xtensor": "/xtensor/", "libpng": "/png.h", "libjpeg": "/jpeglib.h",
         "CLI11": "/CLI/", "MPI": "/mpi.h"}
FLAGS = ["-std=c++17", "-fopenmp", "-I" + ROOT, "-isystem", "/usr/include/eigen3", "-isystem", "/usr/include/stb"]


def include_cost(header, compiled):
    """(preprocessed lines, heavy libraries) of a translation unit that includes `header` alone."""
    mode = ["-DBAGNET_COMPILED=1"] if compiled else []
    result = subprocess.run(["c++"] + FLAGS + mode + ["-E", "-x", "c++", "-"], input=f'#include "{header}"\n',
                            capture_output=True, text=True)
    if result.returncode != 0:
        return None, []
    files = set(re.findall(r'^# \d+ "([^"]+)"', result.stdout, re.M))
    return result.stdout.count("\n"), [name for name, mark in HEAVY.items() if any(mark in f for f in files)]


def print_costs(graph):
    rows = []
    for header in sorted(h for h in graph if h.endswith(".hpp") and not h.endswith("_impl.hpp")
                         and "/cuda/" not in h and "/detail/" not in h):
        alone, heavy_alone = include_cost(header, False)
        compiled, heavy_compiled = include_cost(header, True)
        if alone is not None and compiled is not None:
            rows.append((alone, compiled, header, heavy_alone, heavy_compiled))
    print(f"{'header':<44} {'header-only':>20}  {'with bagnet::compiled':>20}")
    for alone, compiled, header, heavy_alone, heavy_compiled in sorted(rows, reverse=True):
        print(f"{header:<44} {alone:>8} lines {'+'.join(heavy_alone) or '-':<20} {compiled:>8} lines "
              f"{'+'.join(heavy_compiled) or '-'}")


def main():
    graph = headers()
    failed = False
    cycle = find_cycle(graph)
    if cycle:
        print("include cycle between headers: " + " -> ".join(cycle), file=sys.stderr)
        failed = True
    folders = folder_graph(graph)
    cycle = find_cycle(folders)
    if cycle:
        print("include cycle between folders: " + " -> ".join(cycle), file=sys.stderr)
        failed = True
    if "--print" in sys.argv:
        for source in sorted(folders):
            print(source + " -> " + ", ".join(sorted(folders[source])))
    if "--cost" in sys.argv:
        print_costs(graph)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
