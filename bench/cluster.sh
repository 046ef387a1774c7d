#!/usr/bin/env bash
# Multi-node benchmark of issue 7: AssumeRoleWithWebIdentity throughput of
#   sqlite1 — one `keyless serve` node on its embedded SQLite database;
#   pg1     — one node on PostgreSQL;
#   pg2     — two nodes on one PostgreSQL database, the load split evenly between them
#             (two wrk processes at once, each with half the threads and connections).
# Each scenario runs at each connection count in CONNS (spread over the nodes; default 64, as
# issue 4 measures). A node on PostgreSQL waits longer for each audit commit (a round trip to
# another process, about 1 ms under load) and every request waits for its record's commit, so
# at 64 connections its cores are idle more often than the SQLite node's; with a list such as
# CONNS="64 128 256" the summary also gives each scenario's best connection count.
# Each scenario starts from an empty database (a fresh data dir, or a fresh PostgreSQL database)
# and a quiet disk (the previous scenario's files deleted, PostgreSQL checkpointed, `sync`),
# creates the provider and the role through node A (bench/setup.py, boto3), mints a token from
# A's dev issuer, waits for node B to follow the change feed, checks every node answers 200, warms
# up, then measures with `wrk --latency`. Server CPU per request is utime+stime of all nodes
# (/proc/PID/stat) over the run divided by the requests answered; likewise for the PostgreSQL
# server's processes, which share the cores here.
#
# Needs what bench/load.sh needs (wrk, the moto venv for boto3, a release keyless) and PostgreSQL,
# which scripts/ci-postgres.sh installs and starts on loopback.
# Usage: OUT=/tmp/keyless-cluster bash bench/cluster.sh   Results: $OUT/results.tsv, $OUT/summary.md
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
KEYLESS=${KEYLESS:-/work/target-bench/release/keyless}
PY=${PY:-/work/venv-moto/bin/python}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
RUNS=${RUNS:-3}
SCENARIOS=${SCENARIOS:-sqlite1 pg1 pg2}
PORT_A=${PORT_A:-18180}
PORT_B=${PORT_B:-18181}
OUT=${OUT:-/tmp/keyless-cluster-$(date -u +%Y%m%dT%H%M%SZ)}
export BENCH_DIR
mkdir -p "$OUT"
echo "results in $OUT" >&2

eval "$(bash "$REPO/scripts/ci-postgres.sh")"
PG_BASE=${KEYLESS_TEST_POSTGRES_URL%/*}
PSQL=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)/psql

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}
trap cleanup EXIT

# start_node PORT LOG ARGS…: starts a node, waits until /ready answers 200.
start_node() {
    local port=$1 log=$2
    shift 2
    "$KEYLESS" serve --listen "127.0.0.1:$port" "$@" >"$log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local deadline=$((SECONDS + 60))
    until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/ready") == 200 ]]; do
        kill -0 "$pid" 2>/dev/null || { echo "node on $port exited; see $log" >&2; exit 1; }
        ((SECONDS < deadline)) || { echo "node on $port not ready after 60 s" >&2; exit 1; }
        sleep 0.05
    done
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# CPU ticks of every PostgreSQL server process (it runs on the same cores as the nodes here).
pg_ticks() {
    local t=0 p
    for p in $(pgrep -x postgres || true); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
    echo "$t"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# check PORT: the benchmark request must succeed on that node.
check() {
    local code
    code=$(curl -s -o "$OUT/check.xml" -w '%{http_code}' -H 'content-type: application/x-www-form-urlencoded' \
        --data-binary "@$BENCH_BODY" "http://127.0.0.1:$1/")
    [[ $code == 200 ]] || { echo "node on $1 answered $code" >&2; cat "$OUT/check.xml" >&2; exit 1; }
}

printf 'run\tscenario\tconns\trps\tp50_ms\tp99_ms\tnon2xx\tsocket_errors\tcpu_us_per_req\tdb_cpu_us_per_req\n' >"$OUT/results.tsv"
for run in $(seq 1 "$RUNS"); do
    for sc in $SCENARIOS; do
        for conns in $CONNS; do
            # Start with the previous scenario's writes on disk, not being flushed under this one.
            "$PSQL" -q "$PG_BASE/postgres" -c "CHECKPOINT" >/dev/null || true
            sync
            dir="$OUT/$sc-c$conns-run$run"
            mkdir -p "$dir"
            ports=("$PORT_A")
            case $sc in
                sqlite1) start_node "$PORT_A" "$dir/a.log" --data "$dir/data" ;;
                pg1 | pg2)
                    db="keyless_bench_${sc}_${conns}_${run}_$$"
                    "$PSQL" -q "$PG_BASE/postgres" -c "CREATE DATABASE $db" >/dev/null
                    url="$PG_BASE/$db"
                    start_node "$PORT_A" "$dir/a.log" --data "$dir/data-a" --database "$url"
                    if [[ $sc == pg2 ]]; then
                        start_node "$PORT_B" "$dir/b.log" --data "$dir/data-b" --database "$url"
                        ports+=("$PORT_B")
                    fi
                    ;;
                *) echo "unknown scenario $sc" >&2; exit 2 ;;
            esac
            "$KEYLESS" github token --server "http://127.0.0.1:$PORT_A" --repo acme/app --ref refs/heads/main \
                --audience sts.amazonaws.com --claim "exp=$(($(date +%s) + 3600))" >"$dir/token"
            "$PY" "$BENCH_DIR/setup.py" "http://127.0.0.1:$PORT_A" "$dir/token" "$dir/body"
            export BENCH_BODY="$dir/body"
            sleep 2 # node B follows the change feed (default --sync-interval 1s)
            for p in "${ports[@]}"; do check "$p"; done
            n=${#ports[@]}
            t=$((THREADS / n > 0 ? THREADS / n : 1))
            c=$((conns / n))
            warm=()
            for p in "${ports[@]}"; do
                wrk -t"$t" -c"$c" -d"$WARMUP" -s "$BENCH_DIR/assume.lua" "http://127.0.0.1:$p/" >/dev/null 2>&1 &
                warm+=($!)
            done
            for w in "${warm[@]}"; do wait "$w"; done
            cpu0=0
            for p in "${PIDS[@]}"; do cpu0=$((cpu0 + $(cpu_ticks "$p"))); done
            db0=$(pg_ticks)
            wrk_pids=()
            for i in "${!ports[@]}"; do
                wrk -t"$t" -c"$c" -d"$DURATION" --latency -s "$BENCH_DIR/assume.lua" \
                    "http://127.0.0.1:${ports[$i]}/" >"$dir/wrk-$i.txt" 2>&1 &
                wrk_pids+=($!)
            done
            for w in "${wrk_pids[@]}"; do wait "$w"; done
            cpu1=0
            for p in "${PIDS[@]}"; do cpu1=$((cpu1 + $(cpu_ticks "$p"))); done
            db1=$(pg_ticks)
            # Sum over the wrk processes; latencies: the worst p50/p99 of them.
            read -r rps reqs p50 p99 non2xx errs < <(
                for i in "${!ports[@]}"; do grep '^BENCH ' "$dir/wrk-$i.txt"; done | awk '
                    { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                      rps += v["rps"]; reqs += v["requests"]; non += v["non2xx"]
                      errs += v["connect"] + v["read"] + v["write"] + v["timeout"]
                      if (v["p50_ms"] > p50) p50 = v["p50_ms"]; if (v["p99_ms"] > p99) p99 = v["p99_ms"] }
                    END { printf "%.1f %d %.3f %.3f %d %d\n", rps, reqs, p50, p99, non, errs }')
            cpu_us=$(((cpu1 - cpu0) * TICK_US / (reqs > 0 ? reqs : 1)))
            db_us=$(((db1 - db0) * TICK_US / (reqs > 0 ? reqs : 1)))
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$sc" "$conns" "$rps" "$p50" "$p99" "$non2xx" "$errs" "$cpu_us" "$db_us" \
                | tee -a "$OUT/results.tsv" >&2
            cleanup
            # The run's stored state is hundreds of megabytes of audit records: free the disk.
            rm -rf "$dir"/data*
            if [[ $sc == pg* ]]; then
                "$PSQL" -q "$PG_BASE/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null || true
            fi
        done
    done
done

"$PY" - "$OUT" <<'EOF' | tee "$OUT/summary.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/results.tsv"), delimiter="\t"))
names = {"sqlite1": "one node, SQLite", "pg1": "one node, PostgreSQL", "pg2": "two nodes, one PostgreSQL"}
conns = sorted({int(r["conns"]) for r in rows})
def sel(sc, c):
    return [r for r in rows if r["scenario"] == sc and int(r["conns"]) == c]
def med(sc, c, k):
    v = [float(r[k]) for r in sel(sc, c)]
    return statistics.median(v) if v else None
print("| scenario (median of runs) | connections | req/s | vs one SQLite node, same connections | p50 ms | p99 ms | keyless CPU µs/req | PostgreSQL CPU µs/req | non-2xx / socket errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
for sc in ("sqlite1", "pg1", "pg2"):
    for c in conns:
        r = med(sc, c, "rps")
        if r is None:
            continue
        base = med("sqlite1", c, "rps")
        rel = f"{r / base:.2f}×" if base else "–"
        errs = f"{sum(int(x['non2xx']) for x in sel(sc, c))} / {sum(int(x['socket_errors']) for x in sel(sc, c))}"
        print(f"| {names[sc]} | {c} | {r:,.0f} | {rel} | {med(sc, c, 'p50_ms'):.2f} | {med(sc, c, 'p99_ms'):.2f} | {med(sc, c, 'cpu_us_per_req'):.0f} | {med(sc, c, 'db_cpu_us_per_req'):.0f} | {errs} |")
# Throughput: each scenario at its best connection count (by median), against the SQLite node's.
peak = {}
for sc in ("sqlite1", "pg1", "pg2"):
    meds = [(med(sc, c, "rps"), c) for c in conns if sel(sc, c)]
    if meds:
        peak[sc] = max(meds)
if len(conns) > 1 and "sqlite1" in peak:
    print()
    for sc, (r, c) in peak.items():
        print(f"- throughput, {names[sc]}: {r:,.0f} req/s at {c} connections ({r / peak['sqlite1'][0]:.2f}× the SQLite node's)")
EOF
