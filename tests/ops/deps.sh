#!/bin/bash
# deps.sh: the module dependency graph of usher_core from its symbols (who
# defines a name, who uses it: nm on the object files), printed, and a
# failure on any cycle among src/ modules (STYLE.md §1) that is not on the
# allow-list below; the same for the #include "x.h" lines of src/ and
# include/ (module x). Rerun by hand:
#   BUILD_DIR=build bash tests/ops/deps.sh
set -eu
: "${BUILD_DIR:?set BUILD_DIR to the cmake build directory}"
objdir="$BUILD_DIR/CMakeFiles/usher_core.dir/src"
ls "$objdir"/*.o >/dev/null

# Edges allowed to close a cycle, each with the reason it is still there
# (none today). Add one only with its reason; removing it later keeps the
# cycle from coming back.
allow='
'

src=$(cd "$(dirname "$0")/../.." && pwd)
nm -A "$objdir"/*.o | SRC="$src" python3 -c '
import sys, os, re, glob, collections
allow = set()
for line in sys.argv[1].splitlines():
    line = line.split("#")[0].split()
    if len(line) == 2:
        allow.add(tuple(line))
defs, uses = {}, collections.defaultdict(set)
for line in sys.stdin:
    path, _, rest = line.partition(":")
    f = rest.split()
    mod = os.path.basename(path).split(".")[0]
    if len(f) == 2 and f[0] == "U":
        uses[mod].add(f[1])
    elif len(f) == 3 and f[1] in "TDBRCGSV":
        defs[f[2]] = mod
edges = collections.defaultdict(lambda: collections.defaultdict(list))
mods = sorted(set(defs.values()) | set(uses))
for m in mods:
    for s in sorted(uses[m]):
        d = defs.get(s)
        if d is not None and d != m:
            edges[m][d].append(s)
print("module dependency graph (from symbols; module -> module: names used)")
for m in mods:
    for d in sorted(edges[m]):
        syms = edges[m][d]
        more = " ..." if len(syms) > 4 else ""
        print("  %-9s -> %-9s %s%s" % (m, d, " ".join(syms[:4]), more))

def sccs(g):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1
        stack.append(v); on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            c = []
            while True:
                w = stack.pop(); on.discard(w); c.append(w)
                if w == v: break
            if len(c) > 1: out.append(sorted(c))
    for v in sorted(g):
        if v not in index: visit(v)
    return out

full = {m: set(edges[m]) for m in mods}
cyc = sccs(full)
print("cycles (strongly connected modules): %s" %
    ("; ".join(" ".join(c) for c in cyc) if cyc else "none"))
pruned = {m: set(d for d in edges[m] if (m, d) not in allow) for m in mods}
left = sccs(pruned)

# The same over #include lines: module x is src/x.c and include/x.h.
inc = collections.defaultdict(set)
src = os.environ["SRC"]
for f in glob.glob(src + "/src/*.c") + glob.glob(src + "/include/*.h"):
    m = os.path.basename(f).rsplit(".", 1)[0]
    for line in open(f, encoding="utf-8"):
        h = re.match(r"#include \"([a-z_]+)\.h\"", line)
        if h and h.group(1) != m:
            inc[m].add(h.group(1))
imods = sorted(set(inc) | set(d for s in inc.values() for d in s))
icyc = sccs({m: set(inc[m]) for m in imods})
print("include cycles: %s" %
    ("; ".join(" ".join(c) for c in icyc) if icyc else "none"))
ileft = sccs({m: set(d for d in inc[m] if (m, d) not in allow)
    for m in imods})

for a, b in sorted(allow):
    print("allowed edge: %s -> %s (%s)" % (a, b,
        "used" if b in edges[a] or b in inc[a] else
        "unused: drop it from the allow-list"))
# STYLE.md §1: transport hands messages up through the handler table it
# is given (issue 12 item 1), so it uses no name of the modules above it.
above = {"proxy", "route", "forward", "explain"}
bad = sorted((d, edges["transport"][d]) for d in edges["transport"]
    if d in above) + sorted((d, ["#include"]) for d in inc["transport"]
    if d in above)
for d, syms in bad:
    print("FAIL: transport uses %s: %s" % (d, " ".join(syms)))
if left or ileft:
    print("FAIL: cycles not on the allow-list: %s" %
        "; ".join(" ".join(c) for c in left + ileft))
if bad or left or ileft:
    sys.exit(1)
print("ok: no cycle outside the allow-list; transport knows nothing above it")
' "$allow"
