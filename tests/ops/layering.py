#!/usr/bin/env python3
"""The module graph from symbols (STYLE.md §1): for each object file of
usher_core, the names it defines and the names it uses (nm); module A
depends on B when A uses a name B defines. Prints the graph, and fails
when a rule below is broken:
  - transport uses no name of proxy (it calls up through its handler
    table, issue 12 item 1), nor of route or forward;
  - no cycle passes through transport.
usage: layering.py OBJECT..."""
import os
import subprocess
import sys


def nm(obj, *flags):
    out = subprocess.run(["nm", "-P", *flags, obj], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return {l.split()[0] for l in out.splitlines() if l.strip()}


mods = {}
for obj in [o for a in sys.argv[1:] for o in a.split(";") if o]:
    name = os.path.basename(obj).split(".")[0]
    mods[name] = (nm(obj, "--defined-only", "-g"), nm(obj, "-u"))
owner = {}
for m, (defs, _) in mods.items():
    for s in defs:
        owner[s] = m
graph = {m: sorted({owner[s] for s in uses if s in owner} - {m})
         for m, (_, uses) in mods.items()}
for m in sorted(graph):
    print(f"{m:10} -> {' '.join(graph[m])}")

bad = []
for forbidden in ("proxy", "route", "forward"):
    if forbidden in graph.get("transport", []):
        names = sorted(s for s in mods["transport"][1]
                       if owner.get(s) == forbidden)
        bad.append(f"transport uses {forbidden}: {' '.join(names)}")


def reaches(a, b, seen=None):
    seen = seen if seen is not None else set()
    for n in graph.get(a, []):
        if n == b:
            return True
        if n not in seen:
            seen.add(n)
            if reaches(n, b, seen):
                return True
    return False


if "transport" in graph and reaches("transport", "transport"):
    bad.append("a cycle passes through transport")
if "transport" not in graph or "proxy" not in graph:
    bad.append("transport or proxy object missing")
for b in bad:
    print("FAIL " + b)
sys.exit(1 if bad else 0)
