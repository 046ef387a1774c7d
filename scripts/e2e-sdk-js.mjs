// What `configure-aws-credentials` does, with the same npm packages it is built on: `@actions/core`
// asks the runner endpoint for a token, `@aws-sdk/client-sts` exchanges it with
// AssumeRoleWithWebIdentity and checks the credentials with a SigV4-signed GetCallerIdentity.
// The provider and role are made with `@aws-sdk/client-iam` as the account root (`test`/`test`).
// Run by scripts/e2e-runner.sh with, in the environment: ACTIONS_ID_TOKEN_REQUEST_* for a push to
// main, AWS_ENDPOINT_URL (the keyless URL: the clients are not told of any endpoint, as the
// action's are not), PULL_REQUEST (a token for a pull request) and EXPIRED (a validly signed token
// past its `exp`).
// Prints one `ok   - …` or `FAIL - …` line per check; exits 1 if any failed.
import * as core from '@actions/core';
import {
  STSClient,
  AssumeRoleWithWebIdentityCommand,
  GetCallerIdentityCommand,
} from '@aws-sdk/client-sts';
import {
  IAMClient,
  CreateOpenIDConnectProviderCommand,
  CreateRoleCommand,
  GetRoleCommand,
} from '@aws-sdk/client-iam';

const account = '123456789012';
const root = { accessKeyId: 'test', secretAccessKey: 'test' };
const region = 'us-east-1';
let failed = 0;

function check(what, cond, detail) {
  if (cond) {
    console.log(`ok   - ${what}`);
  } else {
    failed += 1;
    console.log(`FAIL - ${what}`);
    if (detail !== undefined) console.log(`       ${JSON.stringify(detail)}`);
  }
}

// Runs `send` and returns the SDK's error (name, message, HTTP status), or null if it succeeded.
async function refusal(send) {
  try {
    await send();
    return null;
  } catch (e) {
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
}

const iam = new IAMClient({ region, credentials: root });
await iam.send(
  new CreateOpenIDConnectProviderCommand({
    Url: 'https://token.actions.githubusercontent.com',
    ClientIDList: ['sts.amazonaws.com'],
  }),
);
const trust = {
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: {
        Federated: `arn:aws:iam::${account}:oidc-provider/token.actions.githubusercontent.com`,
      },
      Action: 'sts:AssumeRoleWithWebIdentity',
      Condition: {
        StringEquals: {
          'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
          'token.actions.githubusercontent.com:sub': 'repo:acme/app:ref:refs/heads/main',
        },
      },
    },
  ],
};
const created = await iam.send(
  new CreateRoleCommand({ RoleName: 'deploy', AssumeRolePolicyDocument: JSON.stringify(trust) }),
);
const got = await iam.send(new GetRoleCommand({ RoleName: 'deploy' }));
check(
  'client-iam: CreateRole and GetRole (the policy comes back URL-encoded and is decoded to the same document)',
  created.Role?.RoleId?.startsWith('AROA') &&
    got.Role?.RoleId === created.Role.RoleId &&
    JSON.stringify(JSON.parse(decodeURIComponent(got.Role.AssumeRolePolicyDocument))) ===
      JSON.stringify(trust),
  got.Role,
);

// As the action does: no credentials of its own for the exchange (the call is unsigned).
const sts = new STSClient({
  region,
  credentials: async () => {
    throw new Error('AssumeRoleWithWebIdentity must not need credentials');
  },
});
const roleArn = `arn:aws:iam::${account}:role/deploy`;
const exchange = (token, extra = {}) =>
  sts.send(
    new AssumeRoleWithWebIdentityCommand({
      RoleArn: roleArn,
      RoleSessionName: 'GitHubActions',
      WebIdentityToken: token,
      DurationSeconds: 3600,
      ...extra,
    }),
  );

const token = await core.getIDToken('sts.amazonaws.com');
const answer = await exchange(token);
const c = answer.Credentials;
const lifetime = (c.Expiration.getTime() - Date.now()) / 1000;
check(
  'client-sts: AssumeRoleWithWebIdentity with the runner token',
  /^ASIA[A-Z0-9]{16}$/.test(c.AccessKeyId) &&
    c.SecretAccessKey.length === 40 &&
    c.SessionToken.length > 0 &&
    lifetime > 3500 &&
    lifetime <= 3600 &&
    answer.AssumedRoleUser.Arn === `arn:aws:sts::${account}:assumed-role/deploy/GitHubActions` &&
    answer.AssumedRoleUser.AssumedRoleId === `${created.Role.RoleId}:GitHubActions` &&
    answer.SubjectFromWebIdentityToken === 'repo:acme/app:ref:refs/heads/main' &&
    answer.Provider ===
      `arn:aws:iam::${account}:oidc-provider/token.actions.githubusercontent.com` &&
    answer.Audience === 'sts.amazonaws.com',
  answer,
);

const session = {
  accessKeyId: c.AccessKeyId,
  secretAccessKey: c.SecretAccessKey,
  sessionToken: c.SessionToken,
};
const signed = (credentials) => new STSClient({ region, credentials });
const me = await signed(session).send(new GetCallerIdentityCommand({}));
check(
  'client-sts: GetCallerIdentity signed with the session credentials',
  me.Arn === answer.AssumedRoleUser.Arn &&
    me.Account === account &&
    me.UserId === answer.AssumedRoleUser.AssumedRoleId,
  me,
);

let e = await refusal(() => exchange(process.env.PULL_REQUEST));
check(
  'client-sts: a pull request token is refused with AccessDenied',
  e?.name === 'AccessDenied' &&
    e.status === 403 &&
    e.message.includes('Not authorized to perform sts:AssumeRoleWithWebIdentity'),
  e,
);
e = await refusal(() => exchange(process.env.EXPIRED));
check(
  'client-sts: an expired token is ExpiredTokenException',
  e?.name === 'ExpiredTokenException' && e.status === 400,
  e,
);
e = await refusal(() => exchange(`${token.slice(0, -4)}AAAA`));
// The SDK names the wire code `InvalidIdentityToken` `InvalidIdentityTokenException` (its model
// maps the awsQuery code to that shape); any other code would give another name.
check(
  'client-sts: a token with an altered signature is InvalidIdentityToken',
  e?.name === 'InvalidIdentityTokenException' && e.status === 400,
  e,
);
e = await refusal(() => exchange(token, { DurationSeconds: 7200 }));
check(
  "client-sts: a duration above the role's maximum is ValidationError",
  e?.name === 'ValidationError' && e.message.includes('DurationSeconds'),
  e,
);
// Session tokens are unpadded base64url: flip one bit of the sealed bytes, keep the encoding.
const sealed = Buffer.from(c.SessionToken, 'base64url');
sealed[sealed.length >> 1] ^= 1;
e = await refusal(() =>
  signed({ ...session, sessionToken: sealed.toString('base64url') }).send(
    new GetCallerIdentityCommand({}),
  ),
);
check(
  'client-sts: an altered session token is InvalidClientTokenId',
  e?.name === 'InvalidClientTokenId' && e.status === 403,
  e,
);
e = await refusal(() =>
  signed({ ...session, secretAccessKey: 'x'.repeat(40) }).send(new GetCallerIdentityCommand({})),
);
check(
  'client-sts: a wrong secret is SignatureDoesNotMatch',
  e?.name === 'SignatureDoesNotMatch' && e.status === 403,
  e,
);

process.exit(failed === 0 ? 0 : 1);
