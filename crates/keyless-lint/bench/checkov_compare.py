#!/usr/bin/env python3
"""Runs checkov on the labelled corpus (converted to Terraform by to_terraform.py) and scores it
the way tests/corpus.rs scores keyless-lint: an insecure policy counts as found when checkov
fails any check on it; a secure policy counts as flagged when checkov fails any check on it.

Usage: checkov_compare.py CHECKOV_BIN TF_DIR INDEX_JSON [LINT_DIR_BIN]
"""
import json, os, subprocess, sys, time

checkov, tf_dir, index_path = sys.argv[1], sys.argv[2], sys.argv[3]
index = json.load(open(index_path))
start = time.time()
proc = subprocess.run([checkov, "-d", tf_dir, "--framework", "terraform", "-o", "json", "--quiet", "--compact"],
                      capture_output=True, text=True)
elapsed = time.time() - start
try:
    data = json.loads(proc.stdout)
except json.JSONDecodeError:
    print("checkov output was not JSON:", proc.stdout[:500], proc.stderr[:500])
    sys.exit(1)
reports = data if isinstance(data, list) else [data]
failed = {}
for rep in reports:
    for chk in rep.get("results", {}).get("failed_checks", []):
        case = os.path.normpath(chk["file_path"]).strip("/").split("/")[0]
        failed.setdefault(case, set()).add(chk["check_id"])
insecure = [c for c in index if c["insecure"]]
secure = [c for c in index if not c["insecure"]]
found = [c for c in insecure if failed.get(c["file"][:-5])]
flagged = [c for c in secure if failed.get(c["file"][:-5])]
checks = sorted({k for v in failed.values() for k in v})
print(f"checkov {proc.returncode=} in {elapsed:.1f} s; checks that failed: {checks}")
print(f"checkov: insecure found {len(found)}/{len(insecure)} (recall {len(found)/max(1,len(insecure)):.3f}); "
      f"secure flagged {len(flagged)}/{len(secure)}; precision {len(found)/max(1,len(found)+len(flagged)):.3f}")
for c in flagged:
    print("  flagged secure:", c["file"], sorted(failed[c['file'][:-5]]))

# Per family: of the policies whose labels include a rule of the family, how many checkov flags at
# all (any failed check counts, which favours checkov).
import re
finding_rs = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "finding.rs")).read()
family = dict(re.findall(r'"(KL\d+)",\s*"[a-z-]+",\s*\w+,\s*"(\w+)"', finding_rs))
per = {}
for c in index:
    for fam in {family.get(r, "?") for r in c["expected"]}:
        hit, total = per.get(fam, (0, 0))
        per[fam] = (hit + bool(failed.get(c["file"][:-5])), total + 1)
print("checkov recall per family (policies labelled with the family that checkov flags at all):")
for fam, (hit, total) in sorted(per.items()):
    print(f"  {fam:<12} {hit:>3}/{total:<3} {hit/total:.3f}")

# keyless-lint on the very same Terraform files, scored the same way (exposure findings only:
# rules about policies that fail closed or style are not counted as "found").
if len(sys.argv) > 4:
    lint = sys.argv[4]
    start = time.time()
    proc = subprocess.run([lint, "--format", "json", "--fail-on", "critical", tf_dir], capture_output=True, text=True)
    elapsed = time.time() - start
    ours = {}
    fail_closed = {"KL010", "KL011", "KL012", "KL013", "KL020", "KL025"}
    for f in json.loads(proc.stdout):
        if f["rule"] in fail_closed:
            continue
        case = os.path.relpath(f["location"]["file"], tf_dir).split("/")[0]
        ours.setdefault(case, set()).add(f["rule"])
    found = [c for c in insecure if ours.get(c["file"][:-5])]
    flagged = [c for c in secure if ours.get(c["file"][:-5])]
    print(f"keyless-lint on the same Terraform in {elapsed:.2f} s: insecure found {len(found)}/{len(insecure)} "
          f"(recall {len(found)/max(1,len(insecure)):.3f}); secure flagged {len(flagged)}/{len(secure)}; "
          f"precision {len(found)/max(1,len(found)+len(flagged)):.3f}")
    only_checkov = [c["file"] for c in insecure if failed.get(c["file"][:-5]) and not ours.get(c["file"][:-5])]
    print(f"insecure found by checkov but not keyless-lint: {only_checkov}")
