#!/usr/bin/env bash
# End-to-end: the README walk-through and the refusals, with the stock `aws` CLI and boto3
# against a real `keyless serve` on loopback. Needs: KEYLESS (path to the binary), `aws` and
# `python3` with boto3 on PATH. Bounded: every call has a timeout; the servers are killed on exit.
set -uo pipefail

KEYLESS=${KEYLESS:-target/debug/keyless}
KEYLESS=$(realpath "$KEYLESS")
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && echo "       $2"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() { # data-dir port
  "$KEYLESS" serve --data "$1" --listen "127.0.0.1:$2" >"$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$2/health" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "server on port $2 did not start:"; cat "$1.log"; exit 1
}

PORT=$(free_port)
start_server "$work/data" "$PORT"
SERVER=http://127.0.0.1:$PORT
export AWS_ENDPOINT_URL=$SERVER AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_SESSION_TOKEN AWS_PROFILE
ROLE_ARN=arn:aws:iam::123456789012:role/deploy

# expect_code CODE description -- command…  : the command must fail with that AWS error code.
expect_code() {
  local code=$1 what=$2; shift 3
  local out
  if out=$("$@" 2>&1); then
    fail "$what" "expected $code, the call succeeded"
  elif grep -q "($code)" <<<"$out"; then
    ok "$what"
  else
    fail "$what" "expected $code, got: $out"
  fi
}

token() { "$KEYLESS" github token --server "$SERVER" "$@"; }

# --- The tutorial -----------------------------------------------------------------------------
out=$(aws sts get-caller-identity --query Arn --output text 2>&1)
[ "$out" = "arn:aws:iam::123456789012:root" ] && ok "root get-caller-identity" || fail "root get-caller-identity" "$out"

aws iam create-open-id-connect-provider --url https://token.actions.githubusercontent.com \
  --client-id-list sts.amazonaws.com >/dev/null && ok "create OIDC provider" || fail "create OIDC provider"
out=$(aws iam get-open-id-connect-provider --open-id-connect-provider-arn \
  arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com --query Url --output text)
[ "$out" = "token.actions.githubusercontent.com" ] && ok "provider Url without scheme" || fail "provider Url" "$out"

cat >"$work/trust.json" <<'JSON'
{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "GitHubMain",
    "Effect": "Allow",
    "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {"StringEquals": {
      "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
      "token.actions.githubusercontent.com:sub": "repo:acme/app:ref:refs/heads/main"
    }}
  }]
}
JSON
cat >"$work/s3.json" <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::acme-site/*"},
 {"Effect":"Allow","Action":["iam:ListRoles","sts:AssumeRole"],"Resource":"*"}]}
JSON
aws iam create-role --role-name deploy --assume-role-policy-document "file://$work/trust.json" >/dev/null \
  && ok "create role" || fail "create role"
aws iam put-role-policy --role-name deploy --policy-name deploy-site --policy-document "file://$work/s3.json" \
  && ok "put role policy" || fail "put role policy"
aws iam attach-role-policy --role-name deploy --policy-arn arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess \
  && ok "attach AWS-managed policy" || fail "attach AWS-managed policy"

MAIN=$(token --repo acme/app --ref refs/heads/main --audience sts.amazonaws.com)
aws sts assume-role-with-web-identity --role-arn $ROLE_ARN --role-session-name gha-42 \
  --web-identity-token "$MAIN" >"$work/creds.json" 2>"$work/err" \
  && ok "assume-role-with-web-identity (main)" || fail "assume-role-with-web-identity (main)" "$(cat "$work/err")"
prov=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Provider"])' "$work/creds.json" 2>/dev/null)
[ "$prov" = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" ] && ok "Provider is the provider ARN" || fail "Provider" "$prov"

with_creds() { # file cmd…
  local f=$1; shift
  AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Credentials"]["AccessKeyId"])' "$f") \
  AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Credentials"]["SecretAccessKey"])' "$f") \
  AWS_SESSION_TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Credentials"]["SessionToken"])' "$f") \
  "$@"
}
out=$(with_creds "$work/creds.json" aws sts get-caller-identity --query Arn --output text 2>&1)
[ "$out" = "arn:aws:sts::123456789012:assumed-role/deploy/gha-42" ] && ok "get-caller-identity as the session" || fail "session identity" "$out"

# --- Refusals ---------------------------------------------------------------------------------
assume() { aws sts assume-role-with-web-identity --role-arn $ROLE_ARN --role-session-name gha-1 --web-identity-token "$1"; }
expect_code AccessDenied "pull request refused" -- assume "$(token --repo acme/app --event pull_request --audience sts.amazonaws.com)"
expect_code AccessDenied "other branch refused" -- assume "$(token --repo acme/app --ref refs/heads/dev --audience sts.amazonaws.com)"
expect_code AccessDenied "other repo refused" -- assume "$(token --repo acme/other --ref refs/heads/main --audience sts.amazonaws.com)"
expect_code AccessDenied "other owner refused" -- assume "$(token --repo evil/app --ref refs/heads/main --audience sts.amazonaws.com)"
expect_code InvalidIdentityToken "wrong audience refused" -- assume "$(token --repo acme/app --ref refs/heads/main)"
expect_code ExpiredTokenException "expired token refused" -- assume "$(token --repo acme/app --ref refs/heads/main --audience sts.amazonaws.com --claim exp=1700000000 --claim iat=1699999700 --claim nbf=1699999400)"
out=$(assume "$(token --repo acme/app --event pull_request --audience sts.amazonaws.com)" 2>&1)
grep -q 'repo:acme/app:pull_request' <<<"$out" && ok "denial names the subject it got" || fail "denial reason" "$out"

# A token signed by another issuer key (a second server's) must not verify.
PORT2=$(free_port)
start_server "$work/data2" "$PORT2"
OTHER=$("$KEYLESS" github token --server "http://127.0.0.1:$PORT2" --repo acme/app --ref refs/heads/main --audience sts.amazonaws.com)
expect_code InvalidIdentityToken "token signed by another key refused" -- assume "$OTHER"

# Tampered session token.
python3 - "$work/creds.json" "$work/tampered.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
t = c["Credentials"]["SessionToken"]
c["Credentials"]["SessionToken"] = t[:-6] + ("AAAAAA" if t[-6:] != "AAAAAA" else "BBBBBB")
json.dump(c, open(sys.argv[2], "w"))
PY
expect_code InvalidClientTokenId "tampered session token refused" -- with_creds "$work/tampered.json" aws sts get-caller-identity

# Role chaining: a role trusting the deploy role; chaining above one hour is refused.
cat >"$work/chain-trust.json" <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/deploy"},"Action":"sts:AssumeRole"}]}
JSON
aws iam create-role --role-name target --max-session-duration 7200 --assume-role-policy-document "file://$work/chain-trust.json" >/dev/null
with_creds "$work/creds.json" aws sts assume-role --role-arn arn:aws:iam::123456789012:role/target --role-session-name chained >"$work/chained.json" 2>"$work/err" \
  && ok "role chaining (1 hour)" || fail "role chaining" "$(cat "$work/err")"
expect_code ValidationError "chained session over 1 hour refused" -- with_creds "$work/creds.json" aws sts assume-role \
  --role-arn arn:aws:iam::123456789012:role/target --role-session-name chained --duration-seconds 7200

# Session policy narrowing: the role may list roles, a session limited to S3 may not.
expect_ok() { local what=$1; shift 2; if out=$("$@" 2>&1); then ok "$what"; else fail "$what" "$out"; fi; }
expect_ok "role policy allows iam:ListRoles" -- with_creds "$work/creds.json" aws iam list-roles
aws sts assume-role-with-web-identity --role-arn $ROLE_ARN --role-session-name narrow --web-identity-token "$MAIN" \
  --policy '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}' >"$work/narrow.json"
expect_code AccessDenied "session policy narrows the role" -- with_creds "$work/narrow.json" aws iam list-roles

# Duration above the role's maximum.
expect_code ValidationError "DurationSeconds above MaxSessionDuration" -- aws sts assume-role-with-web-identity \
  --role-arn $ROLE_ARN --role-session-name gha-1 --web-identity-token "$MAIN" --duration-seconds 7200

# AWS's GitHub guardrail at write time.
cat >"$work/loose.json" <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}}]}
JSON
expect_code MalformedPolicyDocument "trust policy without sub refused (guardrail)" -- aws iam create-role --role-name loose --assume-role-policy-document "file://$work/loose.json"

# --- A managed policy updated the way tools do it: at most five versions, the oldest deleted -----
pdoc() { printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::deploy-%s/*"}]}' "$1"; }
POLICY_ARN=$(aws iam create-policy --policy-name deploy-upload --policy-document "$(pdoc 1)" --query Policy.Arn --output text)
for n in 2 3 4 5; do aws iam create-policy-version --policy-arn "$POLICY_ARN" --policy-document "$(pdoc $n)" --set-as-default >/dev/null; done
expect_code LimitExceeded "a sixth policy version is refused" -- aws iam create-policy-version --policy-arn "$POLICY_ARN" --policy-document "$(pdoc 6)"
expect_code DeleteConflict "the default policy version cannot be deleted" -- aws iam delete-policy-version --policy-arn "$POLICY_ARN" --version-id v5
out=$(aws iam delete-policy-version --policy-arn "$POLICY_ARN" --version-id v1 2>&1 \
  && aws iam create-policy-version --policy-arn "$POLICY_ARN" --policy-document "$(pdoc 6)" --set-as-default --query PolicyVersion.VersionId --output text 2>&1 \
  && aws iam get-policy-version --policy-arn "$POLICY_ARN" --version-id v6 --query PolicyVersion.Document.Statement[0].Resource --output text 2>&1)
[ "$(echo "$out" | tr '\n' ' ')" = "v6 arn:aws:s3:::deploy-6/* " ] && ok "deleting the oldest version makes room; v6 is the default" || fail "policy version rotation" "$out"
expect_code DeleteConflict "a policy with old versions cannot be deleted" -- aws iam delete-policy --policy-arn "$POLICY_ARN"
out=$(for v in v2 v3 v4 v5; do aws iam delete-policy-version --policy-arn "$POLICY_ARN" --version-id $v; done 2>&1 \
  && aws iam delete-policy --policy-arn "$POLICY_ARN" 2>&1)
[ $? -eq 0 ] && ok "the policy goes once its other versions are gone" || fail "delete policy" "$out"

# --- boto3 ------------------------------------------------------------------------------------
python3 - "$SERVER" "$ROLE_ARN" "$MAIN" <<'PY' && ok "boto3 assume + get_caller_identity" || fail "boto3"
import sys, boto3, botocore
server, role, tok = sys.argv[1:4]
sts = boto3.client("sts", endpoint_url=server, region_name="us-east-1")
r = sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="boto", WebIdentityToken=tok)
c = r["Credentials"]
assert c["AccessKeyId"].startswith("ASIA") and len(c["SecretAccessKey"]) == 40, c
me = boto3.client("sts", endpoint_url=server, region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                  aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"]).get_caller_identity()
assert me["Arn"] == "arn:aws:sts::123456789012:assumed-role/deploy/boto", me
try:
    boto3.client("sts", endpoint_url=server, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="wrong").get_caller_identity()
    raise SystemExit("wrong secret accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "SignatureDoesNotMatch", e.response
PY

# A credential scoped to another service is refused, as AWS's endpoints do, though one port
# serves both STS and IAM.
python3 - "$SERVER" <<'PY' && ok "credential scoped to iam refused by STS, and the reverse" || fail "service scope"
import sys, urllib.request, urllib.error
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
server = sys.argv[1]
def call(body, service):
    req = AWSRequest(method="POST", url=server + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials("test", "test"), service, "us-east-1").add_auth(req)
    r = urllib.request.Request(server + "/", data=body.encode(), headers=dict(req.headers), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
gci = "Action=GetCallerIdentity&Version=2011-06-15"
roles = "Action=ListRoles&Version=2010-05-08"
assert call(gci, "sts")[0] == 200
assert call(roles, "iam")[0] == 200
def refused(text, service):
    text = text.replace("&apos;", "'")
    return "SignatureDoesNotMatch" in text and f"scoped to correct service: '{service}'" in text
status, text = call(gci, "iam")
assert status == 403 and refused(text, "sts"), (status, text)
status, text = call(roles, "sts")
assert status == 403 and refused(text, "iam"), (status, text)
PY

# --- Restart keeps state ----------------------------------------------------------------------
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null
start_server "$work/data" "$PORT"
out=$(aws iam get-role --role-name deploy --query Role.Arn --output text 2>&1)
[ "$out" = "$ROLE_ARN" ] && ok "restart keeps roles" || fail "restart keeps roles" "$out"
out=$(with_creds "$work/creds.json" aws sts get-caller-identity --query Arn --output text 2>&1)
[ "$out" = "arn:aws:sts::123456789012:assumed-role/deploy/gha-42" ] && ok "credentials survive a restart" || fail "credentials after restart" "$out"

# --- Audit ------------------------------------------------------------------------------------
"$KEYLESS" audit --data "$work/data" --denied --format json >"$work/audit.jsonl"
grep -q '"errorCode":"AccessDenied"' "$work/audit.jsonl" && grep -q 'repo:acme/app:pull_request' "$work/audit.jsonl" \
  && ok "audit records the denial with its subject" || fail "audit denial record"
"$KEYLESS" audit --data "$work/data" --session gha-42 --format json | grep -q '"eventName":"AssumeRoleWithWebIdentity"' \
  && ok "audit finds the session" || fail "audit session query"

# --- lint and explain on the same documents -----------------------------------------------------
"$KEYLESS" lint "$work/trust.json" >/dev/null; [ $? -eq 0 ] && ok "lint: the tight trust policy is clean" || fail "lint clean policy"
"$KEYLESS" lint --format json "$work/loose.json" >"$work/lint.json"; code=$?
[ $code -eq 1 ] && grep -q '"rule"' "$work/lint.json" && ok "lint: aud-only trust policy is a finding (exit 1)" || fail "lint loose policy" "exit $code"
"$KEYLESS" lint "$work/does-not-exist.json" >/dev/null 2>&1; [ $? -eq 2 ] && ok "lint: unreadable input exits 2" || fail "lint unreadable"
"$KEYLESS" explain --policy "$work/trust.json" --repo acme/app --event pull_request >"$work/explain.txt"; code=$?
[ $code -eq 1 ] && grep -q 'repo:acme/app:pull_request' "$work/explain.txt" && ok "explain: pull request denied with the subject" || fail "explain" "exit $code"
"$KEYLESS" explain --policy "$work/trust.json" --token "$MAIN" >/dev/null; [ $? -eq 0 ] && ok "explain: the main-branch token is allowed" || fail "explain token"
"$KEYLESS" explain --policy "$work/trust.json" --token "$MAIN" --action notanaction >/dev/null 2>&1; [ $? -eq 2 ] && ok "explain: a malformed action is an input error (exit 2)" || fail "explain malformed action"

# Live IAM: every role of the running server, with its attached policies.
sed 's|"token.actions.githubusercontent.com:sub": "repo:acme/app:ref:refs/heads/main"|"token.actions.githubusercontent.com:sub": "repo:acme/*"|; s|StringEquals|StringLike|' \
  "$work/trust.json" >"$work/wide.json"
aws iam create-role --role-name wide --assume-role-policy-document "file://$work/wide.json" >/dev/null \
  && aws iam attach-role-policy --role-name wide --policy-arn arn:aws:iam::aws:policy/AdministratorAccess
"$KEYLESS" lint --endpoint-url "$SERVER" --format json >"$work/live.json"; code=$?
[ $code -eq 1 ] && grep -q '"KL004"' "$work/live.json" && grep -q '"KL021"' "$work/live.json" \
  && ok "lint --endpoint-url: the wide role is found, with its admin policy" || fail "lint live" "exit $code: $(head -c 300 "$work/live.json")"

"$KEYLESS" explain --role deploy --endpoint-url "$SERVER" --repo acme/app --which-subjects >"$work/which.txt"; code=$?
[ $code -eq 0 ] && grep -q '^ADMITTED default branch' "$work/which.txt" && [ "$(grep -c '^ADMITTED' "$work/which.txt")" -eq 1 ] \
  && ok "explain --role: only the default branch gets in" || fail "explain --role" "exit $code: $(cat "$work/which.txt")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
