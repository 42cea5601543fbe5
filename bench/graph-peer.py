#!/usr/bin/env python3
"""python-igraph peer of the relationships-propagation benchmark.

The computation
---------------
Undirected graph, n nodes (every node has degree >= 1, no self loops, each
undirected edge listed once), own standing s (f64, n values) and damping a.
The result is the fixed point

    x = (1 - a) * s + a * D^-1 A x

(each node blends its own standing with the mean of its neighbours' values).

How igraph computes it
----------------------
With p_u = D x:  p_u = (1 - a) D s + a A D^-1 p_u, which is personalized
PageRank on the undirected graph (each node spreads its mass evenly over its
neighbours) with damping a and reset vector proportional to D s.  Summing the
equation over all nodes gives sum(p_u) = sum(D s), so with igraph's
normalised result p (sum 1):

    p = Graph.personalized_pagerank(directed=False, damping=a, reset=D*s)
    x = p * sum(D*s) / D

Checked against a plain Jacobi iteration (to 1e-13) on random heavy-tailed
graphs and on a small graph with two components and degree-1 leaves, for
a = 0.1, 0.5, 0.85, 0.99: max |x_igraph - x_jacobi| <= 1e-11 (PRPACK stops at
its own tolerance 1e-10).  No correction is needed: there are no dangling
nodes (degree >= 1), igraph normalises the reset vector itself, and the
identity holds per connected component, so several components are fine.
Edge cases handled here: s == 0 everywhere gives x = 0 (igraph rejects an
all-zero reset); a node of degree 0 is an input error (x is undefined there).

How the graph is built (measured, python-igraph 1.0.0, 1M nodes / 20.4M edges)
-----------------------------------------------------------------------------
The published wheels are built against Python's limited API (abi3), and there
`Graph(n, edges=ndarray)` turns the array into a memoryview and then calls
memoryview.tolist(): a Python list of 20M 2-lists, 43-53 s and 3.6 GB RSS at
20M edges (it would not fit in memory at 200M edges).  Every constructor ends
in igraph_create, whose index build (igraph_vector_int_pair_order, a
linked-list radix sort) is cache-hostile on unsorted input:

    Graph(n, edges=ndarray)               43-53 s   3.6 GB RSS
    Graph.Read_Edgelist(text file)        32 s      (+ writing the text)
    g.add_edges(ndarray) / iter(ndarray)  24 s      1.3 GB
    Graph(n, edges=<chunked zip of ints>) 22-24 s   1.3 GB
    same, edges presorted in numpy by (max, min) endpoint
                                          2.3 s sort + 10.3 s build = 12.6 s

So: sort the edges in numpy by key (max << 32 | min) (igraph stores an
undirected edge as from = max, to = min, so this is its "from" order), then
feed Graph() a generator of zip(list, list) chunks of 1M edges (the C side
walks it without building one huge Python list).  The sort is counted in
build_s.  The generator owns the sorted arrays, so they are freed before
igraph_create builds its index.

Timings reported (one JSON line on stdout; progress on stderr)
--------------------------------------------------------------
load_s   numpy reads the two files;
build_s  edge presort + igraph Graph construction;
solve_s  degree vector, reset vector, personalized_pagerank (PRPACK,
         tolerance 1e-10), and the conversion p -> x;
pagerank_s  the personalized_pagerank call alone (part of solve_s);
edges_per_s_equiv = 2*m / solve_s: the directed edge visits of ONE propagation
         pass divided by the whole solve time (PRPACK runs many passes; this
         is a throughput-equivalent, not a measured visit rate);
rss_mb   peak resident set of this process (ru_maxrss).

Usage:
    python3 bench/graph-peer.py --edges E.bin --own S.bin --damping 0.5 [--out X.bin]
(install with: pip install -r bench/graph-peer-requirements.txt)
"""

import argparse
import itertools
import json
import os
import resource
import sys
import time

import numpy as np
import igraph

CHUNK = 1 << 20  # edges per zip chunk handed to igraph's C-level edge reader


def log(msg):
    print(f"[graph-peer] {msg}", file=sys.stderr, flush=True)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def edge_chunks(holder):
    """Yield zip(list, list) chunks of the (hi, lo) arrays held in `holder`.

    The arrays are popped from the holder so that, once the generator is
    exhausted, nothing references them and numpy frees them before
    igraph_create starts building its index."""
    hi, lo = holder.pop()
    for i in range(0, len(hi), CHUNK):
        yield zip(hi[i:i + CHUNK].tolist(), lo[i:i + CHUNK].tolist())


def sorted_endpoints(e):
    """(hi, lo) u32 arrays of the edges sorted by (max endpoint, min endpoint)."""
    key = np.maximum(e[:, 0], e[:, 1]).astype(np.uint64)
    key <<= np.uint64(32)
    key |= np.minimum(e[:, 0], e[:, 1])
    key.sort()
    lo = (key & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    key >>= np.uint64(32)
    hi = key.astype(np.uint32)
    return hi, lo


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edges", required=True, help="LE u32 pairs, one per undirected edge")
    ap.add_argument("--own", required=True, help="LE f64, n values (own standing)")
    ap.add_argument("--damping", type=float, default=0.5)
    ap.add_argument("--out", help="write x here as LE f64, n values")
    args = ap.parse_args()
    a = args.damping
    if not (0.0 <= a < 1.0):
        sys.exit("graph-peer: --damping must be in [0, 1)")

    # ---- load -------------------------------------------------------------
    t0 = time.perf_counter()
    if os.path.getsize(args.edges) % 8 or os.path.getsize(args.own) % 8:
        sys.exit("graph-peer: file sizes must be multiples of 8 bytes")
    e = np.fromfile(args.edges, dtype="<u4").reshape(-1, 2)
    s = np.fromfile(args.own, dtype="<f8")
    load_s = time.perf_counter() - t0
    n, m = int(s.size), int(e.shape[0])
    log(f"loaded n={n} m={m} in {load_s:.2f}s")
    if m and int(e.max()) >= n:
        sys.exit(f"graph-peer: edge endpoint {int(e.max())} >= n={n}")

    # ---- build ------------------------------------------------------------
    t0 = time.perf_counter()
    holder = [sorted_endpoints(e)]
    del e
    t_sort = time.perf_counter() - t0
    log(f"presorted edges in {t_sort:.2f}s")
    g = igraph.Graph(n=n, edges=itertools.chain.from_iterable(edge_chunks(holder)),
                     directed=False)
    build_s = time.perf_counter() - t0
    log(f"built igraph Graph in {build_s:.2f}s (sort {t_sort:.2f}s), rss {peak_rss_mb():.0f} MB")
    if g.vcount() != n or g.ecount() != m:
        sys.exit(f"graph-peer: igraph has {g.vcount()} nodes / {g.ecount()} edges, expected {n} / {m}")

    # ---- solve ------------------------------------------------------------
    t0 = time.perf_counter()
    deg = np.asarray(g.degree(), dtype=np.float64)
    if n and deg.min() == 0:
        sys.exit("graph-peer: a node has degree 0; the propagation is undefined there")
    reset = deg * s
    total = float(reset.sum())
    t1 = time.perf_counter()
    if total > 0.0:
        p = g.personalized_pagerank(directed=False, damping=a, reset=reset.tolist(),
                                    implementation="prpack")
        pagerank_s = time.perf_counter() - t1
        x = np.asarray(p, dtype=np.float64)
        x *= total
        x /= deg
    else:
        pagerank_s = 0.0
        x = np.zeros(n)
    solve_s = time.perf_counter() - t0
    log(f"solved in {solve_s:.2f}s (personalized_pagerank {pagerank_s:.2f}s)")

    if args.out:
        x.astype("<f8").tofile(args.out)
        log(f"wrote x to {args.out}")

    print(json.dumps({
        "peer": "igraph",
        "igraph_version": igraph.__version__,
        "nodes": n,
        "edges": m,
        "damping": a,
        "build_method": "numpy presort by (max,min) + Graph(n, edges=chunked zip iterator)",
        "load_s": round(load_s, 4),
        "build_s": round(build_s, 4),
        "solve_s": round(solve_s, 4),
        "pagerank_s": round(pagerank_s, 4),
        "edges_per_s_equiv": round(2 * m / solve_s, 1) if solve_s > 0 else None,
        "edges_per_s_equiv_is": "2*edges/solve_s: directed edge visits of ONE propagation pass per second of the whole solve",
        "x_sum": float(x.sum()),
        "rss_mb": round(peak_rss_mb(), 1),
    }))


if __name__ == "__main__":
    main()
