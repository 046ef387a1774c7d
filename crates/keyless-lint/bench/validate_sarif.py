#!/usr/bin/env python3
"""Validates a SARIF log against the SARIF 2.1.0 JSON schema (draft-04).

Usage: validate_sarif.py SCHEMA.json LOG.sarif. The schema used for BENCHMARKS is the one bundled in
the npm package @microsoft/jest-sarif (`npm pack @microsoft/jest-sarif`, lib/schemas/sarif-2.1.0-rtm.5.json);
`jsonschema` comes with checkov's venv.
"""
import json, sys
import jsonschema

schema = json.load(open(sys.argv[1]))
log = json.load(open(sys.argv[2]))
validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
for e in errors[:20]:
    print("INVALID at", "/".join(str(p) for p in e.path), ":", e.message)
print(f"{sys.argv[2]}: {len(log['runs'][0]['results'])} results, {len(errors)} schema errors")
sys.exit(1 if errors else 0)
