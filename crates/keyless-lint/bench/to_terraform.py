#!/usr/bin/env python3
"""Converts trust-policy JSON files into Terraform so checkov (which reads Terraform and
CloudFormation, not bare IAM JSON) can scan the same policies.

Usage: to_terraform.py SRC_DIR DST_DIR. For every SRC_DIR/x.json writes DST_DIR/x/main.tf with
the policy twice: as `data "aws_iam_policy_document"` (the form checkov's GitHub OIDC check,
CKV_AWS_358, reads) and as an `aws_iam_role` whose `assume_role_policy` is the JSON heredoc.
"""
import json, os, sys

src, dst = sys.argv[1], sys.argv[2]


def hcl_list(xs):
    return "[" + ", ".join(json.dumps(x) for x in xs) + "]"


def as_list(v):
    return v if isinstance(v, list) else [v]


def doc_block(name, pol):
    stmts = pol["Statement"] if isinstance(pol["Statement"], list) else [pol["Statement"]]
    out = [f'data "aws_iam_policy_document" "{name}" {{']
    for s in stmts:
        out.append("  statement {")
        out.append(f'    effect = {json.dumps(s.get("Effect", "Allow"))}')
        if "Action" in s:
            out.append(f"    actions = {hcl_list(as_list(s['Action']))}")
        if "NotAction" in s:
            out.append(f"    not_actions = {hcl_list(as_list(s['NotAction']))}")
        for field, block in (("Principal", "principals"), ("NotPrincipal", "not_principals")):
            p = s.get(field)
            if p is None:
                continue
            if p == "*":
                p = {"AWS": "*"}
            for kind, ids in p.items():
                out.append(f"    {block} {{")
                out.append(f"      type = {json.dumps(kind)}")
                out.append(f"      identifiers = {hcl_list(as_list(ids))}")
                out.append("    }")
        for op, keys in (s.get("Condition") or {}).items():
            for key, vals in keys.items():
                out.append("    condition {")
                out.append(f"      test = {json.dumps(op)}")
                out.append(f"      variable = {json.dumps(key)}")
                out.append(f"      values = {hcl_list([str(v) for v in as_list(vals)])}")
                out.append("    }")
        out.append("  }")
    out.append("}")
    return "\n".join(out)


for f in sorted(os.listdir(src)):
    if not f.endswith(".json"):
        continue
    pol = json.load(open(os.path.join(src, f)))
    d = os.path.join(dst, f[:-5])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "main.tf"), "w") as out:
        out.write(doc_block("trust", pol) + "\n\n")
        out.write('resource "aws_iam_role" "role" {\n  name = "ci"\n  assume_role_policy = <<POLICY\n')
        out.write(json.dumps(pol, indent=2) + "\nPOLICY\n}\n")
