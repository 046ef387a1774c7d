#!/usr/bin/env python3
"""Writes N synthetic trust policies (deterministic) into DIR for the speed benchmark.

Usage: gen_policies.py N DIR. The mix follows the corpus: exact pins, owner-wide and
repository-wide wildcards, missing conditions, several issuers, extra deny statements.
"""
import json, os, random, sys

n, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(out, exist_ok=True)
rng = random.Random(42)
GH = "token.actions.githubusercontent.com"
shapes = [
    lambda o, r: {"StringEquals": {f"{GH}:aud": "sts.amazonaws.com", f"{GH}:sub": f"repo:{o}/{r}:ref:refs/heads/main"}},
    lambda o, r: {"StringEquals": {f"{GH}:aud": "sts.amazonaws.com", f"{GH}:sub": f"repo:{o}/{r}:environment:production"}},
    lambda o, r: {"StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}, "StringLike": {f"{GH}:sub": f"repo:{o}/*"}},
    lambda o, r: {"StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}, "StringLike": {f"{GH}:sub": f"repo:{o}/{r}:*"}},
    lambda o, r: {"StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}},
    lambda o, r: {"StringLike": {f"{GH}:sub": [f"repo:{o}/{r}:ref:refs/heads/main", f"repo:{o}/*"]}},
    lambda o, r: {"ForAllValues:StringLike": {f"{GH}:sub": f"repo:{o}/{r}:*"}, "StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}},
]
for i in range(n):
    o, r = f"org{rng.randrange(500)}", f"repo{rng.randrange(5000)}"
    stmts = [{
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::{rng.randrange(10**11, 10**12)}:oidc-provider/{GH}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": rng.choice(shapes)(o, r),
    }]
    if rng.random() < 0.2:
        stmts.append({"Effect": "Deny", "Principal": {"Federated": stmts[0]["Principal"]["Federated"]},
                      "Action": "sts:AssumeRoleWithWebIdentity",
                      "Condition": {"StringEquals": {f"{GH}:actor": "dependabot[bot]"}}})
    with open(os.path.join(out, f"trust-{i:05d}.json"), "w") as f:
        json.dump({"Version": "2012-10-17", "Statement": stmts}, f, indent=2)
print(f"wrote {n} policies to {out}")
