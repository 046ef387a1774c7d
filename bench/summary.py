"""Medians of a load.sh session as a Markdown table, keyless against moto, with the issue-4 targets.

Usage: summary.py OUT_DIR (reads results.tsv and ready.tsv written by load.sh)
"""
import csv
import statistics
import sys

out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/results.tsv"), delimiter="\t"))
ready = list(csv.DictReader(open(f"{out}/ready.tsv"), delimiter="\t"))


def med(server, op, key):
    vals = [float(r[key]) for r in rows if r["server"] == server and r["op"] == op]
    return statistics.median(vals) if vals else None


def med_ready(server):
    vals = [float(r["ready_ms"]) for r in ready if r["server"] == server]
    return statistics.median(vals) if vals else None


def peak_rss_mb(server):
    vals = [float(r["peak_rss_kb"]) for r in rows if r["server"] == server]
    return max(vals) / 1024 if vals else None


def total(server, key):
    return sum(int(r[key]) for r in rows if r["server"] == server)


def fmt(v, digits=1):
    return "–" if v is None else f"{v:,.{digits}f}"


def ratio(k, m):
    return "–" if k is None or m is None or m == 0 else f"{k / m:,.1f}×"


def verdict(v, target, higher_is_better):
    if v is None:
        return "–"
    ok = v >= target if higher_is_better else v <= target
    return "met" if ok else "**missed**"


lines = [
    "| measure (median of runs) | keyless | moto | keyless / moto | target | keyless vs target |",
    "|---|---:|---:|---:|---:|---|",
]
ops = [("assume", "AssumeRoleWithWebIdentity", 20000), ("gci", "GetCallerIdentity (SigV4 presigned)", 30000)]
for op, label, target in ops:
    k, m = med("keyless", op, "rps"), med("moto", op, "rps")
    lines.append(f"| {label} req/s | {fmt(k, 0)} | {fmt(m, 0)} | {ratio(k, m)} | ≥ {target:,} | {verdict(k, target, True)} |")
    if op == "assume" and k is not None and m is not None:
        lines.append(f"| {label}: keyless ≥ 100× moto | | | {ratio(k, m)} | ≥ 100× | {verdict(k / m, 100, True)} |")
    k, m = med("keyless", op, "cpu_us_per_req"), med("moto", op, "cpu_us_per_req")
    lines.append(f"| {label}: server CPU per request, µs | {fmt(k, 0)} | {fmt(m, 0)} | {ratio(k, m)} | | |")
    for key, name in (("p50_ms", "p50"), ("p99_ms", "p99")):
        k, m = med("keyless", op, key), med("moto", op, key)
        tgt = "≤ 10 ms" if key == "p99_ms" else ""
        v = verdict(k, 10, False) if key == "p99_ms" else ""
        lines.append(f"| {label} {name} latency, ms | {fmt(k, 2)} | {fmt(m, 2)} | {ratio(k, m)} | {tgt} | {v} |")
k, m = peak_rss_mb("keyless"), peak_rss_mb("moto")
lines.append(f"| peak RSS under load, MB (max of runs) | {fmt(k)} | {fmt(m)} | {ratio(k, m)} | ≤ 40 MB | {verdict(k, 40, False)} |")
ke, kx, m = med_ready("keyless-empty-dir"), med_ready("keyless-existing-dir"), med_ready("moto")
lines.append(f"| exec → first signed GetCallerIdentity 200, ms, empty data dir | {fmt(ke)} | {fmt(m)} | {ratio(ke, m)} | ≤ 100 ms | {verdict(ke, 100, False)} |")
lines.append(f"| exec → first signed GetCallerIdentity 200, ms, existing data dir | {fmt(kx)} | | | ≤ 100 ms | {verdict(kx, 100, False)} |")
lines.append(f"| non-2xx answers / socket errors, all runs | {total('keyless', 'non2xx')} / {total('keyless', 'socket_errors')} "
             f"| {total('moto', 'non2xx')} / {total('moto', 'socket_errors')} | | 0 | |")
print("\n".join(lines))
print()
print("Per run (req/s; p50 / p99 ms; peak RSS MB):")
print()
print("| run | server | operation | req/s | p50 ms | p99 ms | non-2xx | socket errors | peak RSS MB | load avg before | server CPU µs/req |")
print("|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
for r in rows:
    print(f"| {r['run']} | {r['server']} | {r['op']} | {float(r['rps']):,.0f} | {float(r['p50_ms']):.2f} | {float(r['p99_ms']):.2f} "
          f"| {r['non2xx']} | {r['socket_errors']} | {float(r['peak_rss_kb']) / 1024:.1f} | {r['loadavg_before']} | {r.get('cpu_us_per_req', '–')} |")
print()
print("Starts (ms, exec → first 200): " + "; ".join(
    f"{s}: " + ", ".join(r["ready_ms"] for r in ready if r["server"] == s)
    for s in ("keyless-empty-dir", "keyless-existing-dir", "moto") if any(r["server"] == s for r in ready)))
