"""Write the path+query of a SigV4 presigned GET GetCallerIdentity for ENDPOINT.

Signed with the root key `test`/`test`, region us-east-1, X-Amz-Expires=900, by botocore's own
presigner. boto3 signs awsQuery presigned URLs for POST unless told otherwise; the benchmark sends
GET, so HttpMethod="GET". Usage: presign.py ENDPOINT PATH_OUT
"""
import sys
import urllib.parse

import boto3

endpoint, path_out = sys.argv[1:3]
sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=900, HttpMethod="GET")
parts = urllib.parse.urlsplit(url)
with open(path_out, "w") as f:
    f.write(f"{parts.path or '/'}?{parts.query}\n")
