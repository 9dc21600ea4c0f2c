"""moto as the STS that credvend's integration tests talk to.

Starts moto on 127.0.0.1 (a free port; `--host ADDR` binds ADDR instead), seeds an IAM user
with an access key and the roles the tests assume, switches signature and policy checking on,
prints one JSON line describing what it seeded, then serves until its standard input closes
(the test process exited or dropped it).
"""

import json
import sys
import urllib.request

import boto3
from moto.server import ThreadedMotoServer

ACCOUNT = "123456789012"
# Within STS's ExternalId alphabet [\w+=,.@:/-], and every special character of it.
EXTERNAL_ID = "ext+id/with=special:chars@x,y.z-_"
ALLOW_STS = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:*", "Resource": "*"}]}
)


def client(service, url, **keys):
    keys.setdefault("aws_access_key_id", "seeding")
    keys.setdefault("aws_secret_access_key", "seeding")
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", **keys)


def seed(url):
    iam = client("iam", url)
    iam.create_user(UserName="credvend-user")
    iam.put_user_policy(UserName="credvend-user", PolicyName="sts", PolicyDocument=ALLOW_STS)
    key = iam.create_access_key(UserName="credvend-user")["AccessKey"]
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/credvend-user"

    roles = {}

    def role(name, principals, condition=None):
        statement = {"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"}
        if condition:
            statement["Condition"] = condition
        trust = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="sts", PolicyDocument=ALLOW_STS)
        roles[name] = arn

    role("app", [user_arn])
    # Second hop of a chain: trusts the session the first hop makes (role_session_name = hop1).
    role("chained", [f"arn:aws:sts::{ACCOUNT}:assumed-role/app/hop1"])
    role("external", [user_arn], {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}})
    role("from-session", [f"arn:aws:sts::{ACCOUNT}:assumed-role/app/seed-session"])
    # The conformance tests' credential_source chains: a client assumes this role with the
    # credentials credvend serves for `app` (role_session_name = conformance).
    role("second", [f"arn:aws:sts::{ACCOUNT}:assumed-role/app/conformance"])

    as_user = client(
        "sts", url, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    session = as_user.assume_role(RoleArn=roles["app"], RoleSessionName="seed-session")["Credentials"]
    return {
        "url": url,
        "account": ACCOUNT,
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
        "session": {
            "access_key_id": session["AccessKeyId"],
            "secret_access_key": session["SecretAccessKey"],
            "session_token": session["SessionToken"],
        },
        "external_id": EXTERNAL_ID,
        "roles": roles,
    }


def enforce_auth(url):
    # A form content type makes this endpoint answer 500; it wants text/plain.
    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request) as response:
        response.read()


def main():
    # `--host 0.0.0.0`: also reachable from other network namespaces (a test's own, never the
    # host's); the announced URL stays on 127.0.0.1, which credvend needs for plain http.
    host = sys.argv[sys.argv.index("--host") + 1] if "--host" in sys.argv else "127.0.0.1"
    server = ThreadedMotoServer(host, 0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    url = f"http://127.0.0.1:{port}"
    seeded = seed(url)
    # `--no-auth`: signature checking stays off, for calls made with credentials moto cannot
    # verify (its GetSessionToken answers fixed keys); tests that use it say why.
    if "--no-auth" not in sys.argv:
        enforce_auth(url)
    print(json.dumps(seeded), flush=True)
    sys.stdin.read()  # returns at EOF: our test process is gone
    server.stop()


if __name__ == "__main__":
    main()
