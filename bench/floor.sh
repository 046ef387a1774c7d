#!/usr/bin/env bash
# How far issue 4's "≥ 100× moto" is from what this machine allows: AssumeRoleWithWebIdentity
# with `wrk -t2 -c64` (bench/assume.lua, the same body for all) against, in interleaved rounds,
#   moto     moto_server (accepts any token);
#   keyless  `keyless serve` (verifies the token, evaluates the trust policy, mints and seals the
#            session, commits the audit record);
#   floor    bench/bare-axum --verify: reads the form, verifies the token's RS256 signature with
#            the same aws-lc-rs call and answers keyless's own 1.7 KB answer — nothing else;
#   bare     bench/bare-axum: a fixed 600-byte answer, no work at all.
# Prints per run req/s, p99, the server's and wrk's CPU per request and the machine's idle share;
# then medians and each server's rate as a multiple of moto's in the same round.
# Needs what bench/load.sh needs, plus the yardstick:
#   cargo build --release --manifest-path bench/bare-axum/Cargo.toml   (or BARE=path)
# Knobs: ROUNDS (3), DURATION (15s), WARMUP (3s), CONNS (64), SERVERS ("moto keyless floor bare").
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
KEYLESS=${KEYLESS:-/work/target-bench/release/keyless}
BARE=${BARE:-$BENCH_DIR/bare-axum/target/release/bare-axum}
MOTO=${MOTO:-/work/venv-moto/bin/moto_server}
PY=${PY:-/work/venv-moto/bin/python}
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-15s} WARMUP=${WARMUP:-3s} CONNS=${CONNS:-64}
SERVERS=${SERVERS:-moto keyless floor bare}
PORT=${PORT:-18090}
OUT=${OUT:-/tmp/keyless-floor-$(date -u +%Y%m%dT%H%M%SZ)}
export BENCH_DIR
mkdir -p "$OUT"
echo "results in $OUT" >&2

PID=
stop() { if [[ -n $PID ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; fi; }
trap stop EXIT
start() { # NAME DATA
    case $1 in
        moto) "$MOTO" -H 127.0.0.1 -p "$PORT" >"$OUT/$1.log" 2>&1 & ;;
        keyless) "$KEYLESS" serve --data "$2" --listen "127.0.0.1:$PORT" >"$OUT/$1.log" 2>&1 & ;;
        floor) "$BARE" "127.0.0.1:$PORT" --verify "$OUT/jwks" "$OUT/answer" >"$OUT/$1.log" 2>&1 & ;;
        bare) "$BARE" "127.0.0.1:$PORT" >"$OUT/$1.log" 2>&1 & ;;
    esac
    PID=$!
    local deadline=$((SECONDS + 60))
    until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/"; do
        kill -0 "$PID" 2>/dev/null || { echo "$1 exited; see $OUT/$1.log" >&2; exit 1; }
        ((SECONDS < deadline)) || { echo "$1 not listening after 60 s" >&2; exit 1; }
        sleep 0.02
    done
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
machine() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6}' /proc/stat; }
# wrk under a parent that reports its children's CPU seconds on the last line of stderr.
timed_wrk() { # DURATION LOG
    "$PY" -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"WRKCPU {r.ru_utime + r.ru_stime:.3f}", file=sys.stderr)' \
        wrk -t2 -c"$CONNS" -d"$1" --latency -s "$BENCH_DIR/assume.lua" "http://127.0.0.1:$PORT/" >"$2" 2>&1
}

# Seed: a keyless data dir with provider and role, a token of its issuer, its JWKS and a real
# answer for the floor to send.
SEED="$OUT/seed"
start keyless "$SEED"
"$KEYLESS" github token --server "http://127.0.0.1:$PORT" --repo acme/app --ref refs/heads/main \
    --audience sts.amazonaws.com --claim "exp=$(($(date +%s) + 7200))" >"$OUT/token"
"$PY" "$BENCH_DIR/setup.py" "http://127.0.0.1:$PORT" "$OUT/token" "$OUT/body" >/dev/null
curl -s "http://127.0.0.1:$PORT/.well-known/jwks" >"$OUT/jwks"
curl -s -o "$OUT/answer" -H 'content-type: application/x-www-form-urlencoded' --data-binary "@$OUT/body" "http://127.0.0.1:$PORT/"
stop
export BENCH_BODY="$OUT/body"
echo "$(date -u +%FT%TZ) $(uname -r), wrk -t2 -c$CONNS -d$DURATION, $ROUNDS rounds of: $SERVERS" | tee "$OUT/env.txt" >&2

printf 'round\tserver\trps\tp99_ms\tnon2xx\tserver_us\twrk_us\tidle_pct\n' >"$OUT/results.tsv"
for r in $(seq 1 "$ROUNDS"); do
    for s in $SERVERS; do
        rm -rf "$OUT/data"
        [[ $s == keyless ]] && cp -a "$SEED" "$OUT/data"
        start "$s" "$OUT/data"
        # moto needs the provider and role too (the body it writes is the same as keyless's).
        [[ $s == moto ]] && "$PY" "$BENCH_DIR/setup.py" "http://127.0.0.1:$PORT" "$OUT/token" /dev/null >/dev/null
        code=$(curl -s -o "$OUT/check-$s" -w '%{http_code}' -H 'content-type: application/x-www-form-urlencoded' \
            --data-binary "@$OUT/body" "http://127.0.0.1:$PORT/")
        [[ $code == 200 ]] || { echo "$s answered $code" >&2; cat "$OUT/check-$s" >&2; exit 1; }
        timed_wrk "$WARMUP" "$OUT/warmup-$s-$r.txt"
        c0=$(ticks "$PID"); read -r t0 i0 < <(machine)
        timed_wrk "$DURATION" "$OUT/wrk-$s-$r.txt"
        read -r t1 i1 < <(machine); c1=$(ticks "$PID")
        stop
        line=$(grep '^BENCH ' "$OUT/wrk-$s-$r.txt")
        reqs=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line")
        wrkcpu=$(sed -n 's/^WRKCPU //p' "$OUT/wrk-$s-$r.txt")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$s" \
            "$(grep -o 'rps=[0-9.]*' <<<"$line" | cut -d= -f2)" "$(grep -o 'p99_ms=[0-9.]*' <<<"$line" | cut -d= -f2)" \
            "$(grep -o 'non2xx=[0-9]*' <<<"$line" | cut -d= -f2)" \
            "$(( (c1 - c0) * 1000000 / $(getconf CLK_TCK) / reqs ))" \
            "$(awk -v c="$wrkcpu" -v n="$reqs" 'BEGIN{printf "%d", c * 1e6 / n}')" \
            "$(( 100 * (i1 - i0) / (t1 - t0) ))" | tee -a "$OUT/results.tsv" >&2
    done
done

# Medians, and each server against moto in the same round.
"$PY" - "$OUT/results.tsv" <<'PY' | tee "$OUT/summary.md"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
servers = list(dict.fromkeys(r["server"] for r in rows))
moto = {r["round"]: float(r["rps"]) for r in rows if r["server"] == "moto"}
print("| server | req/s (median) | per round | × moto, per round | server CPU µs/req | wrk CPU µs/req | p99 ms | non-2xx |")
print("|---|---:|---|---|---:|---:|---:|---:|")
for s in servers:
    mine = [r for r in rows if r["server"] == s]
    rps = [float(r["rps"]) for r in mine]
    ratio = [float(r["rps"]) / moto[r["round"]] for r in mine if r["round"] in moto]
    med = lambda k: statistics.median(float(r[k]) for r in mine)
    print(f"| {s} | {statistics.median(rps):,.0f} | {' / '.join(f'{x:,.0f}' for x in rps)} | "
          f"{' / '.join(f'{x:.1f}' for x in ratio)} | {med('server_us'):.0f} | {med('wrk_us'):.0f} | "
          f"{med('p99_ms'):.2f} | {sum(int(r['non2xx']) for r in mine)} |")
PY
