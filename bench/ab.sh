#!/usr/bin/env bash
# Interleaved A/B of several keyless builds: for each round and each binary, start it on a fresh
# data dir, set up the provider and role (bench/setup.py), warm up 2 s, then run
# AssumeRoleWithWebIdentity and presigned GetCallerIdentity with `wrk -t2 -c64 --latency` for SECS
# seconds each. Interleaving rounds spreads this machine's drifting speed over every binary.
# Prints one line per run: req/s, p99, the machine's idle share during the run, server CPU µs/req.
# Usage: bench/ab.sh SECS ROUNDS BINARY...   (e.g. bench/ab.sh 8 3 /tmp/keyless-old /tmp/keyless-new)
set -euo pipefail
SECS=$1 ROUNDS=$2
shift 2
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-/work/venv-moto/bin/python}
export BENCH_DIR
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
machine() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6}' /proc/stat; }
for r in $(seq 1 "$ROUNDS"); do
    for b in "$@"; do
        d=$(mktemp -d /tmp/keyless-ab-XXXX)
        port=$((18100 + RANDOM % 500))
        "$b" serve --data "$d/data" --listen "127.0.0.1:$port" >"$d/log" 2>&1 &
        pid=$!
        until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; do sleep 0.02; done
        "$b" github token --server "http://127.0.0.1:$port" --repo acme/app --ref refs/heads/main \
            --audience sts.amazonaws.com --claim "exp=$(($(date +%s) + 3600))" >"$d/token"
        "$PY" "$BENCH_DIR/setup.py" "http://127.0.0.1:$port" "$d/token" "$d/body" >/dev/null
        "$PY" "$BENCH_DIR/presign.py" "http://127.0.0.1:$port" "$d/path" >/dev/null
        export BENCH_BODY="$d/body" BENCH_PATH_FILE="$d/path"
        wrk -t2 -c64 -d2s -s "$BENCH_DIR/assume.lua" "http://127.0.0.1:$port/" >/dev/null 2>&1
        for s in assume presigned; do
            c0=$(ticks "$pid")
            read -r t0 i0 < <(machine)
            line=$(wrk -t2 -c64 -d"${SECS}s" --latency -s "$BENCH_DIR/$s.lua" "http://127.0.0.1:$port/" 2>&1 | grep '^BENCH')
            read -r t1 i1 < <(machine)
            c1=$(ticks "$pid")
            reqs=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line")
            echo "$r $(basename "$b") $s $(grep -o 'rps=[0-9.]*' <<<"$line") $(grep -o 'p99_ms=[0-9.]*' <<<"$line")" \
                "idle=$((100 * (i1 - i0) / (t1 - t0)))% cpu_us=$(((c1 - c0) * 10000 / (reqs > 0 ? reqs : 1)))"
        done
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        rm -rf "$d"
    done
done
