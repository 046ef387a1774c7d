"""Markdown rows `| crate | benchmark | median |` for the benchmarks one `cargo bench` run measured.

Usage: criterion_medians.py CRITERION_DIR START_EPOCH CRATE. Every `<id dir>/new/estimates.json`
written since START_EPOCH belongs to this run; its `median` (with criterion's confidence interval)
is printed under the `full_id` of the neighbouring `benchmark.json`, in the order measured.
"""
import json
import pathlib
import sys

crit, start, crate = pathlib.Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]


def human(ns):
    for unit, div in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= div:
            return f"{ns / div:.3g} {unit}"
    return f"{ns:.3g} ns"


found = []
for est in crit.glob("**/new/estimates.json"):
    mtime = est.stat().st_mtime
    if mtime < start:
        continue
    try:
        full_id = json.load(open(est.parent / "benchmark.json"))["full_id"]
        med = json.load(open(est))["median"]
    except (OSError, ValueError, KeyError):
        continue
    found.append((mtime, full_id, med))
if not found:
    print(f"| {crate} | (no criterion estimates written) | |")
for _, full_id, med in sorted(found, key=lambda t: t[0]):
    ci = med["confidence_interval"]
    print(f"| {crate} | `{full_id}` | {human(med['point_estimate'])} "
          f"({human(ci['lower_bound'])} … {human(ci['upper_bound'])}) |")
