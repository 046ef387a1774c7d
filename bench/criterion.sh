#!/usr/bin/env bash
# Runs the criterion benches of the pure crates once and prints each benchmark's median
# (criterion's `median.point_estimate` from estimates.json) as a Markdown table.
# Usage: bench/criterion.sh [CRATE...]   (default: keyless-policy keyless-oidc keyless-wire)
# A crate whose benches do not compile is reported and skipped.
set -uo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench}
OUT=${OUT:-/tmp/keyless-criterion-$(date -u +%Y%m%dT%H%M%SZ)}
PY=${PY:-python3}
mkdir -p "$OUT"
crates=("$@")
[[ ${#crates[@]} -gt 0 ]] || crates=(keyless-policy keyless-oidc keyless-wire)
cd "$BENCH_DIR/.."
for c in "${crates[@]}"; do
    echo "== cargo bench -p $c ($(date -u +%H:%M:%S))" >&2
    # Build first, so the start time below marks the measurements of this crate only.
    if cargo bench -p "$c" --no-run >"$OUT/$c.build" 2>&1 \
        && start=$(date +%s) && cargo bench -p "$c" >"$OUT/$c.txt" 2>"$OUT/$c.err"; then
        "$PY" "$BENCH_DIR/criterion_medians.py" "$CARGO_TARGET_DIR/criterion" "$start" "$c"
        # Benches with their own harness (CPU-time counts, interleaved medians) print plain lines.
        { grep -h 'per CPU-second' "$OUT/$c.txt"; sed -n '/^interleaved median:/,/ratio/p' "$OUT/$c.txt"; } \
            | tee "$OUT/$c.extra" >&2 || true
    else
        echo "| $c | (benches did not build or run: see $OUT/$c.build and $OUT/$c.err) | |"
        tail -n 20 "$OUT/$c.build" "$OUT/$c.err" >&2
    fi
done | tee "$OUT/medians.md"
