"""Act as a pod's application: boto3 with nothing but the environment IRSA injects.

The environment must hold AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (and an endpoint URL
for STS); no static keys. boto3's default credential chain finds the web identity provider,
trades the token at STS (AssumeRoleWithWebIdentity, unsigned) and signs GetCallerIdentity with
the temporary credentials. Prints one JSON object for the Rust test to check.
"""

import json
import sys

import boto3

session = boto3.session.Session()
credentials = session.get_credentials()
if credentials is None:
    sys.exit("boto3 found no credentials in the environment")
identity = session.client("sts").get_caller_identity()
frozen = credentials.get_frozen_credentials()
print(
    json.dumps(
        {
            "method": credentials.method,
            "access_key_prefix": frozen.access_key[:4],
            "has_session_token": bool(frozen.token),
            "arn": identity["Arn"],
            "user_id": identity["UserId"],
            "account": identity["Account"],
        }
    )
)
