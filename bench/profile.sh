#!/usr/bin/env bash
# Where keyless spends its time under the load of bench/load.sh: `perf record` (Debian linux-perf,
# software cpu-clock event, DWARF call graphs from the release profile's line tables) on a running
# `keyless serve` while wrk drives one operation.
# Usage: bench/profile.sh [assume|gci]   Output: $OUT/perf-OP.data, $OUT/report-OP-{self,children}.txt
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
KEYLESS=${KEYLESS:-/work/target-bench/release/keyless}
PY=${PY:-/work/venv-moto/bin/python}
OP=${1:-assume}
PORT=${KPORT:-18080}
SECS=${SECS:-8}
OUT=${OUT:-/tmp/keyless-profile-$(date -u +%Y%m%dT%H%M%SZ)}
export BENCH_DIR
mkdir -p "$OUT"

"$KEYLESS" serve --data "$OUT/data" --listen "127.0.0.1:$PORT" >"$OUT/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"; do
    kill -0 "$PID" 2>/dev/null || { echo "keyless exited; see $OUT/serve.log" >&2; exit 1; }
    sleep 0.02
done
"$KEYLESS" github token --server "http://127.0.0.1:$PORT" --repo acme/app --ref refs/heads/main \
    --audience sts.amazonaws.com --claim "exp=$(($(date +%s) + 3600))" >"$OUT/token"
"$PY" "$BENCH_DIR/setup.py" "http://127.0.0.1:$PORT" "$OUT/token" "$OUT/body"
"$PY" "$BENCH_DIR/presign.py" "http://127.0.0.1:$PORT" "$OUT/path"
export BENCH_BODY="$OUT/body" BENCH_PATH_FILE="$OUT/path"
script=assume.lua
[[ $OP == gci ]] && script=presigned.lua

wrk -t2 -c64 -d$((SECS + 4))s --latency -s "$BENCH_DIR/$script" "http://127.0.0.1:$PORT/" >"$OUT/wrk-$OP.txt" 2>&1 &
WRK=$!
sleep 2 # let wrk reach steady load before sampling (a fixed offset into a fixed-length run)
perf record -F 499 --call-graph dwarf,16384 -o "$OUT/perf-$OP.data" -p "$PID" -- sleep "$SECS" 2>"$OUT/perf-record.log"
wait "$WRK"
grep '^BENCH ' "$OUT/wrk-$OP.txt" >&2
perf report -i "$OUT/perf-$OP.data" --no-children --sort dso,symbol --stdio -g none --percent-limit 0.5 \
    2>/dev/null | cut -c1-200 | sed 's/ *$//' >"$OUT/report-$OP-self.txt"
perf report -i "$OUT/perf-$OP.data" --children --sort symbol --stdio -g none --percent-limit 2 \
    2>/dev/null | cut -c1-240 | sed 's/ *$//' >"$OUT/report-$OP-children.txt"
echo "$OUT/report-$OP-self.txt $OUT/report-$OP-children.txt" >&2
