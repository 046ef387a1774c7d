"""Prepare an STS/IAM endpoint for the load benchmark (keyless or moto, same calls).

Creates the GitHub OIDC provider and the `deploy` role of the README walk-through (ignoring
"already exists"), and writes the AssumeRoleWithWebIdentity form body for the given token
(presign.py writes the signed GetCallerIdentity). Usage: setup.py ENDPOINT TOKEN_FILE BODY_OUT
"""
import sys
import urllib.parse

import boto3
import botocore.exceptions

endpoint, token_file, body_out = sys.argv[1:4]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="test", aws_secret_access_key="test")
iam = boto3.client("iam", **kw)

TRUST = """{"Version": "2012-10-17",
 "Statement": [{"Sid": "GitHubMain", "Effect": "Allow",
   "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
   "Action": "sts:AssumeRoleWithWebIdentity",
   "Condition": {"StringEquals": {
     "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
     "token.actions.githubusercontent.com:sub": "repo:acme/app:ref:refs/heads/main"}}}]}"""


def ignore_exists(fn, **args):
    try:
        return fn(**args)
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] != "EntityAlreadyExists":
            raise


ignore_exists(iam.create_open_id_connect_provider,
              Url="https://token.actions.githubusercontent.com",
              ClientIDList=["sts.amazonaws.com"])
ignore_exists(iam.create_role, RoleName="deploy", AssumeRolePolicyDocument=TRUST)

token = open(token_file).read().strip()
body = urllib.parse.urlencode({
    "Action": "AssumeRoleWithWebIdentity",
    "Version": "2011-06-15",
    "RoleArn": "arn:aws:iam::123456789012:role/deploy",
    "RoleSessionName": "bench",
    "WebIdentityToken": token,
})
with open(body_out, "w") as f:
    f.write(body)

