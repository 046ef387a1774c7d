#!/usr/bin/env bash
# Benchmark keyless-lint against checkov: corpus recall/precision and time for 10,000 policies.
# Usage: bash crates/keyless-lint/bench/run.sh   (from the workspace root; needs python3, and
# checkov in /work/venv-checkov: python3 -m venv /work/venv-checkov && /work/venv-checkov/bin/pip install checkov)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
crate="$here/.."
work="${BENCH_DIR:-/tmp/keyless-lint-bench}"
checkov="${CHECKOV:-/work/venv-checkov/bin/checkov}"
rm -rf "$work" && mkdir -p "$work"

echo "== keyless-lint on the labelled corpus"
cargo test -q -p keyless-lint --test main corpus -- --nocapture 2>&1 | grep -E "policies:|insecure policies|^[a-z]+ +[0-9]" || true

echo "== build (release)"
cargo build -q --release -p keyless-lint --example lint_dir
bin="${CARGO_TARGET_DIR:-target}/release/examples/lint_dir"

echo "== 10,000 generated trust policies"
python3 "$here/gen_policies.py" 10000 "$work/10k"
for i in 1 2 3; do "$bin" --quiet "$work/10k"; done
/usr/bin/time -f "wall %e s, max RSS %M KiB" "$bin" --format json --fail-on critical "$work/10k" > "$work/10k.json" || true
echo "findings in JSON: $(python3 -c "import json;print(len(json.load(open('$work/10k.json'))))")"

if [ -x "$checkov" ]; then
  echo "== checkov on the same corpus (converted to Terraform)"
  python3 "$here/to_terraform.py" "$crate/tests/corpus/policies" "$work/corpus-tf"
  python3 "$here/checkov_compare.py" "$checkov" "$work/corpus-tf" "$crate/tests/corpus/index.json" "$bin"
  echo "== keyless-lint on the same Terraform files"
  "$bin" --quiet "$work/corpus-tf"
  echo "== checkov on the 10,000 policies (Terraform)"
  python3 "$here/to_terraform.py" "$work/10k" "$work/10k-tf"
  /usr/bin/time -f "checkov wall %e s, max RSS %M KiB" "$checkov" -d "$work/10k-tf" --framework terraform --quiet --compact -o json > "$work/checkov-10k.json" || true
  /usr/bin/time -f "keyless-lint on the Terraform form: wall %e s" "$bin" --quiet "$work/10k-tf"
else
  echo "checkov not installed at $checkov: skipped"
fi
