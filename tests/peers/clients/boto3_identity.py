"""boto3 as a client of credvend: resolve credentials through boto3's own default chain (which
the environment points at credvend's IMDS or ECS listener), then ask STS who they are.

Prints one JSON line: the credential provider boto3 used, the served credentials, and the ARN
STS (moto, at $AWS_ENDPOINT_URL_STS) reports for them.
"""

import json

import boto3


def main():
    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise SystemExit("boto3 found no credentials")
    frozen = credentials.get_frozen_credentials()
    arn = session.client("sts").get_caller_identity()["Arn"]
    print(
        json.dumps(
            {
                "method": credentials.method,
                "access_key_id": frozen.access_key,
                "secret_access_key": frozen.secret_key,
                "session_token": frozen.token,
                "arn": arn,
            }
        )
    )


if __name__ == "__main__":
    main()
