#!/usr/bin/env bash
# End-to-end: `keyless setup` and `keyless assume` against a real `keyless serve` on loopback,
# checked with the stock `aws` CLI (also through `credential_process` in an ~/.aws/config profile
# under a temporary HOME). Needs: KEYLESS (path to the binary), AWS (the aws CLI, default `aws`),
# python3 and curl. Bounded: every call has a timeout; the server is killed on exit.
set -uo pipefail

KEYLESS=${KEYLESS:-target/debug/keyless}
KEYLESS=$(realpath "$KEYLESS")
AWS=${AWS:-aws}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && echo "       $2"; }
check() { # description, then a command whose success means ok
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what" "${detail:-}"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
T() { timeout 60 "$@"; }

PORT=$(free_port)
"$KEYLESS" serve --data "$work/data" --listen "127.0.0.1:$PORT" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do
  curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.05
done
curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 || { echo "server did not start:"; cat "$work/server.log"; exit 1; }
SERVER=http://127.0.0.1:$PORT

export HOME=$work/home
mkdir -p "$HOME/.aws"
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_ENDPOINT_URL_STS AWS_ENDPOINT_URL_IAM \
  ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN
export AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL=$SERVER AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
root() { AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$@"; }
ROLE_ARN=arn:aws:iam::123456789012:role/deploy

# --- setup --------------------------------------------------------------------------------------
setup() { root T "$KEYLESS" setup --repo acme/app --branch main --role-name deploy --s3-bucket acme-site "$@"; }
out=$(setup --yes --workflow "$work/repo/.github/workflows/deploy.yml" 2>&1); rc=$?
detail=$out check "setup creates provider, role and policy" \
  bash -c '[ '"$rc"' = 0 ] && grep -q "+ create OIDC provider" <<<"$0" && grep -q "+ create role .deploy." <<<"$0"' "$out"
detail=$(cat "$work/repo/.github/workflows/deploy.yml" 2>&1) check "setup writes the workflow" \
  grep -q "id-token: write" "$work/repo/.github/workflows/deploy.yml"
out=$(root T "$AWS" iam get-role --role-name deploy --query Role.Arn --output text 2>&1)
detail=$out check "aws iam get-role sees the role" test "$out" = "$ROLE_ARN"
out=$(setup --yes --workflow "$work/repo/.github/workflows/deploy.yml" 2>&1); rc=$?
detail=$out check "second setup reports no changes" bash -c '[ '"$rc"' = 0 ] && grep -q "no changes" <<<"$0"' "$out"
out=$(setup --branch release --dry-run 2>&1)
detail=$out check "dry run shows the trust policy diff" bash -c 'grep -q "~ update trust policy" <<<"$0" && grep -q "^      + .*refs/heads/release" <<<"$0"' "$out"
out=$(setup --yes 2>&1)
detail=$out check "dry run changed nothing" grep -q "no changes" <<<"$out"
out=$(root T "$KEYLESS" setup --repo 'acme/*' --branch main --role-name wide --s3-bucket b --yes 2>&1); rc=$?
detail="rc=$rc $out" check "owner-wide trust for a writing role is refused (exit 1)" \
  bash -c '[ '"$rc"' = 1 ] && grep -q -- "--allow-wide-trust" <<<"$0"' "$out"

# --- assume -------------------------------------------------------------------------------------
runner() { T "$KEYLESS" github env --server "$SERVER" --repo acme/app --ref "$1"; }
main_env=$(runner refs/heads/main)
out=$( (eval "$main_env"; eval "$(T "$KEYLESS" assume --role-arn "$ROLE_ARN" --format env)" && T "$AWS" sts get-caller-identity --query Arn --output text) 2>&1)
detail=$out check "assume --format env, then aws sts get-caller-identity shows assumed-role/deploy" \
  grep -q "^arn:aws:sts::123456789012:assumed-role/deploy/GitHubActions$" <<<"$out"

out=$( (eval "$(runner refs/heads/dev)"; T "$KEYLESS" assume --role-arn "$ROLE_ARN") 2>&1); rc=$?
detail="rc=$rc $out" check "another branch is refused with exit 1, its sub and keyless explain" \
  bash -c '[ '"$rc"' = 1 ] && grep -q "repo:acme/app:ref:refs/heads/dev" <<<"$0" && grep -q "keyless explain" <<<"$0"' "$out"

out=$(T "$KEYLESS" assume --role-arn "$ROLE_ARN" 2>&1); rc=$?
detail="rc=$rc $out" check "no runner variables: exit 2 and the id-token permission" \
  bash -c '[ '"$rc"' = 2 ] && grep -q "id-token: write" <<<"$0"' "$out"

# credential_process from a profile, with the stock aws CLI.
cat >"$HOME/.aws/config" <<CFG
[profile ci]
region = us-east-1
credential_process = $KEYLESS assume --role-arn $ROLE_ARN --session-name from-profile --format credential-process
CFG
out=$( (eval "$main_env"; AWS_PROFILE=ci T "$AWS" sts get-caller-identity --query Arn --output text) 2>&1)
detail=$out check "credential_process profile: aws CLI gets assumed-role/deploy/from-profile" \
  grep -q "^arn:aws:sts::123456789012:assumed-role/deploy/from-profile$" <<<"$out"

# Role chaining: a role trusting deploy's sessions; capped at 1 hour.
root T "$AWS" iam create-role --role-name target --max-session-duration 43200 --assume-role-policy-document \
  "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"$ROLE_ARN\"},\"Action\":\"sts:AssumeRole\"}]}" >/dev/null 2>&1
out=$( (eval "$main_env"; eval "$(T "$KEYLESS" assume --role-arn "$ROLE_ARN" --chain-role-arn arn:aws:iam::123456789012:role/target)" && T "$AWS" sts get-caller-identity --query Arn --output text) 2>&1)
detail=$out check "role chaining: aws CLI shows assumed-role/target" grep -q ":assumed-role/target/" <<<"$out"
out=$( (eval "$main_env"; T "$KEYLESS" assume --role-arn "$ROLE_ARN" --chain-role-arn arn:aws:iam::123456789012:role/target --duration 7200) 2>&1); rc=$?
detail="rc=$rc $out" check "role chaining capped at 1 hour (exit 2)" bash -c '[ '"$rc"' = 2 ] && grep -q "1 hour" <<<"$0"' "$out"

# Token file instead of the runner endpoint.
T "$KEYLESS" github token --server "$SERVER" --repo acme/app --ref refs/heads/main --audience sts.amazonaws.com >"$work/token"
out=$( (export AWS_WEB_IDENTITY_TOKEN_FILE=$work/token AWS_ROLE_ARN=$ROLE_ARN; T "$KEYLESS" assume --format json) 2>&1)
detail=$out check "token file via AWS_WEB_IDENTITY_TOKEN_FILE" grep -q '"AccountId": "123456789012"' <<<"$out"

# Unreachable endpoint: bounded retries, its own message.
dead=http://127.0.0.1:$(free_port)
out=$(T "$KEYLESS" assume --role-arn "$ROLE_ARN" --token-file "$work/token" --endpoint-url "$dead" --retry-max-attempts 2 2>&1); rc=$?
detail="rc=$rc $out" check "unreachable STS: exit 1 after 2 attempts" bash -c '[ '"$rc"' = 1 ] && grep -q "cannot reach STS" <<<"$0"' "$out"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
