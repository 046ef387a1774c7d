#!/usr/bin/env bash
# Load benchmark of issue 4: `keyless serve` against `moto_server`, same machine, same session.
#
# For each of RUNS runs and each server: start it, set up the GitHub OIDC provider and the `deploy`
# role (bench/setup.py, boto3), warm up, then `wrk -t$THREADS -c$CONNS -d$DURATION --latency` with
#   - AssumeRoleWithWebIdentity: unsigned awsQuery form POST, fixed body (bench/assume.lua);
#   - GetCallerIdentity: SigV4 presigned GET, root key test/test (bench/presigned.lua);
# then read the server's peak RSS (VmHWM of /proc/PID/status) and stop it.
# Then STARTS times per server: exec to the first HTTP 200 of a signed GetCallerIdentity (bench/ready.py).
# Everything is on loopback. Results: $OUT/results.tsv, $OUT/ready.tsv, $OUT/summary.md (medians).
#
# Needs: wrk (Debian `apt-get install wrk`), moto in a venv
# (`python3 -m venv /work/venv-moto && /work/venv-moto/bin/pip install 'moto[server]'`, which also
# brings boto3), and a release keyless
# (`CARGO_TARGET_DIR=/work/target-bench cargo build --release -p keyless`).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
KEYLESS=${KEYLESS:-/work/target-bench/release/keyless}
MOTO=${MOTO:-/work/venv-moto/bin/moto_server}
PY=${PY:-/work/venv-moto/bin/python}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
RUNS=${RUNS:-3}
STARTS=${STARTS:-5}
SERVERS=${SERVERS:-keyless moto}
KPORT=${KPORT:-18080}
MPORT=${MPORT:-18081}
OUT=${OUT:-/tmp/keyless-bench-$(date -u +%Y%m%dT%H%M%SZ)}
export BENCH_DIR

mkdir -p "$OUT"
echo "results in $OUT" >&2

SERVER_PID=
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

port_of() { if [[ $1 == keyless ]]; then echo "$KPORT"; else echo "$MPORT"; fi; }

# start_server NAME DATA_DIR LOG: starts the server in the background, sets SERVER_PID, waits until
# it answers HTTP (any status) by polling.
start_server() {
    local name=$1 data=$2 log=$3 port
    port=$(port_of "$name")
    if [[ $name == keyless ]]; then
        "$KEYLESS" serve --data "$data" --listen "127.0.0.1:$port" >"$log" 2>&1 &
    else
        "$MOTO" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    fi
    SERVER_PID=$!
    local deadline=$((SECONDS + 60))
    until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; do
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "$name exited; see $log" >&2; exit 1; }
        ((SECONDS < deadline)) || { echo "$name not listening after 60 s" >&2; exit 1; }
        sleep 0.02
    done
}

stop_server() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# peak_rss_kb PID: VmHWM (peak resident set) of the process, in kB.
peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# cpu_ticks PID: utime+stime of the process (all threads), in clock ticks. CPU time per request
# does not depend on how much of the machine other processes took during the run.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# run_wrk SCRIPT PORT DURATION LOG: prints the BENCH line of bench/report.lua.
run_wrk() {
    local script=$1 port=$2 duration=$3 log=$4
    wrk -t"$THREADS" -c"$CONNS" -d"$duration" --latency -s "$BENCH_DIR/$script" \
        "http://127.0.0.1:$port/" >"$log" 2>&1
    grep '^BENCH ' "$log"
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# --- environment ---------------------------------------------------------------------------------
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "keyless: $KEYLESS ($(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo "moto: $("$PY" -c 'import moto; print(moto.__version__)')"
    echo "wrk: $(wrk -v 2>&1 | head -n1)"
    echo "load: wrk -t$THREADS -c$CONNS -d$DURATION --latency (warm-up $WARMUP), $RUNS runs, $STARTS starts"
} | tee "$OUT/env.txt" >&2

# --- seed: one keyless data dir with the issuer key, provider and role; a token from its issuer ---
# Every keyless run starts from a copy of it, so runs start from the same state and the token
# (signed by that issuer key, exp overridden to now + 1 h) verifies in all of them.
SEED="$OUT/keyless-seed"
start_server keyless "$SEED" "$OUT/keyless-seed.log"
"$KEYLESS" github token --server "http://127.0.0.1:$KPORT" --repo acme/app --ref refs/heads/main \
    --audience sts.amazonaws.com --claim "exp=$(($(date +%s) + 3600))" >"$OUT/token"
"$PY" "$BENCH_DIR/setup.py" "http://127.0.0.1:$KPORT" "$OUT/token" "$OUT/body-keyless"
stop_server

# --- load runs -----------------------------------------------------------------------------------
printf 'run\tserver\top\trps\tp50_ms\tp99_ms\tmax_ms\tnon2xx\tsocket_errors\tpeak_rss_kb\tloadavg_before\tcpu_us_per_req\n' >"$OUT/results.tsv"
for run in $(seq 1 "$RUNS"); do
    for name in $SERVERS; do
        port=$(port_of "$name")
        data="$OUT/$name-data-$run"
        if [[ $name == keyless ]]; then cp -a "$SEED" "$data"; fi
        start_server "$name" "$data" "$OUT/$name-run$run.log"
        "$PY" "$BENCH_DIR/setup.py" "http://127.0.0.1:$port" "$OUT/token" "$OUT/body-$name"
        "$PY" "$BENCH_DIR/presign.py" "http://127.0.0.1:$port" "$OUT/path-$name"
        export BENCH_BODY="$OUT/body-$name" BENCH_PATH_FILE="$OUT/path-$name"
        # Both answers must be 200 before measuring anything.
        code=$(curl -s -o "$OUT/check-$name-assume.xml" -w '%{http_code}' -H 'content-type: application/x-www-form-urlencoded' \
            --data-binary "@$BENCH_BODY" "http://127.0.0.1:$port/")
        [[ $code == 200 ]] || { echo "$name AssumeRoleWithWebIdentity answered $code" >&2; cat "$OUT/check-$name-assume.xml" >&2; exit 1; }
        code=$(curl -s -o "$OUT/check-$name-gci.xml" -w '%{http_code}' "http://127.0.0.1:$port$(cat "$BENCH_PATH_FILE")")
        [[ $code == 200 ]] || { echo "$name GetCallerIdentity answered $code" >&2; cat "$OUT/check-$name-gci.xml" >&2; exit 1; }
        for op in assume gci; do
            script=assume.lua
            [[ $op == gci ]] && script=presigned.lua
            run_wrk "$script" "$port" "$WARMUP" "$OUT/wrk-$name-$op-run$run-warmup.txt" >/dev/null
            load=$(cut -d' ' -f1-3 /proc/loadavg)
            cpu0=$(cpu_ticks "$SERVER_PID")
            line=$(run_wrk "$script" "$port" "$DURATION" "$OUT/wrk-$name-$op-run$run.txt")
            cpu1=$(cpu_ticks "$SERVER_PID")
            if ! kill -0 "$SERVER_PID" 2>/dev/null; then
                st=0; wait "$SERVER_PID" || st=$?
                echo "$name died during the $op run (exit status $st); see $OUT/$name-run$run.log" >&2
                exit 1
            fi
            rss=$(peak_rss_kb "$SERVER_PID")
            errs=$(($(field connect <<<"$line") + $(field read <<<"$line") + $(field write <<<"$line") + $(field timeout <<<"$line")))
            reqs=$(field requests <<<"$line")
            cpu_us=$(((cpu1 - cpu0) * TICK_US / (reqs > 0 ? reqs : 1)))
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$name" "$op" \
                "$(field rps <<<"$line")" "$(field p50_ms <<<"$line")" "$(field p99_ms <<<"$line")" \
                "$(field max_ms <<<"$line")" "$(field non2xx <<<"$line")" "$errs" "$rss" "$load" "$cpu_us" \
                | tee -a "$OUT/results.tsv" >&2
        done
        stop_server
        rm -rf "$data" # hundreds of megabytes of audit records per run
    done
done

# --- time to ready ------------------------------------------------------------------------------
# keyless twice: on an empty data dir (first start: creates the database and the issuer key) and on
# an existing one (a restart). The presigned URL is signed before exec (valid 900 s).
printf 'start\tserver\tready_ms\n' >"$OUT/ready.tsv"
for name in $SERVERS; do
    "$PY" "$BENCH_DIR/presign.py" "http://127.0.0.1:$(port_of "$name")" "$OUT/ready-path-$name"
done
for i in $(seq 1 "$STARTS"); do
    for name in $SERVERS; do
        port=$(port_of "$name")
        if [[ $name == keyless ]]; then
            ms=$("$PY" "$BENCH_DIR/ready.py" 127.0.0.1 "$port" "$OUT/ready-path-$name" -- \
                "$KEYLESS" serve --data "$OUT/ready-empty-$i" --listen "127.0.0.1:$port")
            printf '%s\t%s\t%s\n' "$i" keyless-empty-dir "$ms" | tee -a "$OUT/ready.tsv" >&2
            cp -a "$SEED" "$OUT/ready-existing-$i"
            ms=$("$PY" "$BENCH_DIR/ready.py" 127.0.0.1 "$port" "$OUT/ready-path-$name" -- \
                "$KEYLESS" serve --data "$OUT/ready-existing-$i" --listen "127.0.0.1:$port")
            printf '%s\t%s\t%s\n' "$i" keyless-existing-dir "$ms" | tee -a "$OUT/ready.tsv" >&2
        else
            ms=$("$PY" "$BENCH_DIR/ready.py" 127.0.0.1 "$port" "$OUT/ready-path-$name" -- \
                "$MOTO" -H 127.0.0.1 -p "$port")
            printf '%s\t%s\t%s\n' "$i" moto "$ms" | tee -a "$OUT/ready.tsv" >&2
        fi
    done
done

"$PY" "$BENCH_DIR/summary.py" "$OUT" | tee "$OUT/summary.md"
