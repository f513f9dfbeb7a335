#!/usr/bin/env python3
"""Checks bagnet's include structure: no header is in an include cycle, and no folder of
include/bagnet/ (layers, backend, train, ...) includes a folder that includes it back, directly
or through the top-level headers (arch.hpp, parameters.hpp, ...) in between.

usage: python3 tools/include_graph.py [--print]   (exit status 1 on a cycle; --print: the folder graph)
"""
import os
import re
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
