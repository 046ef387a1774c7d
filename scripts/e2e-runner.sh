#!/usr/bin/env bash
# End-to-end: the real `@actions/core` (npm) getIDToken() against the runner endpoint of a real
# `keyless serve`, and an independent verifier (PyJWT + cryptography) checking the token against
# the served JWKS, for each event type; then what `configure-aws-credentials` does, with
# `@aws-sdk/client-sts` (scripts/e2e-sdk-js.mjs). Needs KEYLESS, node/npm and python3 with
# PyJWT[crypto].
set -uo pipefail

KEYLESS=$(realpath "${KEYLESS:-target/debug/keyless}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && echo "       $2"; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$KEYLESS" serve --data "$work/data" --listen "127.0.0.1:$PORT" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.05; done
SERVER=http://127.0.0.1:$PORT

# Pinned: these run on the machine's Node.js 20, and the SDK's releases from January 2027 on need
# Node.js 22. Move the versions on deliberately, with the Node.js they need.
NPM_PACKAGES="@actions/core@3.0.1 @aws-sdk/client-sts@3.1178.0 @aws-sdk/client-iam@3.1178.0"
# shellcheck disable=SC2086 # one word per package
(cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund $NPM_PACKAGES >/dev/null 2>&1) \
  || { echo "npm install $NPM_PACKAGES failed"; exit 1; }
cat >"$work/get.mjs" <<'JS'
import * as core from '@actions/core';
const token = await core.getIDToken(process.argv[2] || undefined);
console.log(token);
JS

check() { # description expected-sub expected-aud audience-arg keyless-env-flags…
  local what=$1 sub=$2 aud=$3 audience=$4; shift 4
  eval "$("$KEYLESS" github env --server "$SERVER" "$@")"
  local jwt
  if ! jwt=$(cd "$work" && node get.mjs "$audience" 2>"$work/node.err" | grep -v '^::' | tail -n 1); then
    fail "$what: getIDToken" "$(cat "$work/node.err")"; return
  fi
  if python3 - "$SERVER" "$jwt" "$sub" "$aud" <<'PY'
import json, sys, urllib.request
import jwt
server, token, sub, aud = sys.argv[1:5]
disco = json.load(urllib.request.urlopen(server + "/.well-known/openid-configuration"))
assert disco["issuer"] == "https://token.actions.githubusercontent.com", disco
assert disco["id_token_signing_alg_values_supported"] == ["RS256"], disco
jwks = json.load(urllib.request.urlopen(server + "/.well-known/jwks"))
kid = jwt.get_unverified_header(token)["kid"]
key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=aud, issuer=disco["issuer"])
assert claims["sub"] == sub, (claims["sub"], sub)
assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] < claims["iat"], claims
for k in ("repository_id", "repository_owner_id", "run_id", "run_number", "run_attempt", "ref_protected", "actor_id"):
    assert isinstance(claims[k], str), (k, claims[k])
PY
  then ok "$what"; else fail "$what" "independent verification failed"; fi
}

check "push to main, audience sts.amazonaws.com" "repo:acme/app:ref:refs/heads/main" sts.amazonaws.com sts.amazonaws.com --repo acme/app --ref refs/heads/main
check "tag push" "repo:acme/app:ref:refs/tags/v1.2.0" sts.amazonaws.com sts.amazonaws.com --repo acme/app --ref refs/tags/v1.2.0
check "pull request" "repo:acme/app:pull_request" sts.amazonaws.com sts.amazonaws.com --repo acme/app --event pull_request
check "environment" "repo:acme/app:environment:production" sts.amazonaws.com sts.amazonaws.com --repo acme/app --environment production
check "default audience is the owner URL" "repo:acme/app:ref:refs/heads/main" https://github.com/acme "" --repo acme/app --ref refs/heads/main

# A bad bearer gets 401.
eval "$("$KEYLESS" github env --server "$SERVER" --repo acme/app)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${ACTIONS_ID_TOKEN_REQUEST_TOKEN}x" "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=sts.amazonaws.com")
[ "$code" = 401 ] && ok "altered request token → 401" || fail "altered request token" "got $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$ACTIONS_ID_TOKEN_REQUEST_URL")
[ "$code" = 401 ] && ok "missing bearer → 401" || fail "missing bearer" "got $code"

# A job without id-token: write gets no request URL, and @actions/core says so.
unset ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN
eval "$("$KEYLESS" github env --server "$SERVER" --repo acme/app --no-id-token-permission)"
if out=$(cd "$work" && node get.mjs sts.amazonaws.com 2>&1); then
  fail "no id-token permission" "got a token"
else
  grep -q "ACTIONS_ID_TOKEN_REQUEST_URL" <<<"$out" && ok "no id-token permission → no request URL" || fail "no id-token permission" "$out"
fi

# configure-aws-credentials' path with the AWS SDK for JavaScript: a push to main gets credentials.
unset ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN
eval "$("$KEYLESS" github env --server "$SERVER" --repo acme/app --ref refs/heads/main)"
token() { "$KEYLESS" github token --server "$SERVER" --repo acme/app --audience sts.amazonaws.com "$@"; }
cp "$here/e2e-sdk-js.mjs" "$work/"
(cd "$work" && AWS_ENDPOINT_URL=$SERVER PULL_REQUEST=$(token --event pull_request) \
  EXPIRED=$(token --ref refs/heads/main --claim exp=1700000000 --claim iat=1699999700 --claim nbf=1699999400) \
  timeout 120 node e2e-sdk-js.mjs >"$work/sdk.out" 2>"$work/sdk.err")
status=$?
grep -v '^::' "$work/sdk.out"
[ "$status" -eq 0 ] || cat "$work/sdk.err"
sdk_ok=$(grep -c '^ok ' "$work/sdk.out")
sdk_failed=$(grep -c '^FAIL ' "$work/sdk.out")
passed=$((passed + sdk_ok)) failed=$((failed + sdk_failed))
if [ "$status" -ne 0 ] && [ "$sdk_failed" -eq 0 ]; then fail "e2e-sdk-js.mjs exited with $status"; fi
[ "$sdk_ok" -ge 9 ] || fail "e2e-sdk-js.mjs: $sdk_ok checks passed, 9 expected"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
