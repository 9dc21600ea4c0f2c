"""boto 2.49 (the legacy SDK) as a client with nothing configured: no keys anywhere, so its own
credential provider falls back to the instance metadata service at its built-in address,
http://169.254.169.254 (IMDSv1). Then boto 2's own STS connection, signing with SigV4 as it
does, asks GetCallerIdentity at $AWS_ENDPOINT_URL_STS (moto). boto 2 predates that action, so
it goes through the generic `make_request`.

Run only where 169.254.169.254 is a test's own address (a network namespace). Prints one JSON
line: the access key id boto 2 found, whether it came from the metadata service, and the ARN.
"""

import json
import os
import urllib.parse
import xml.etree.ElementTree as ET

import boto
from boto.regioninfo import RegionInfo
from boto.sts.connection import STSConnection

NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}


def main():
    sts = urllib.parse.urlparse(os.environ["AWS_ENDPOINT_URL_STS"])
    conn = STSConnection(
        is_secure=sts.scheme == "https",
        port=sts.port,
        region=RegionInfo(name="us-east-1", endpoint=sts.hostname),
    )
    # The scope boto 2 would guess from an IP host is wrong; name it as STS's.
    conn.auth_service_name = "sts"
    conn.auth_region_name = "us-east-1"
    response = conn.make_request("GetCallerIdentity", {}, "/", "POST")
    body = response.read()
    if response.status != 200:
        raise SystemExit(f"GetCallerIdentity: HTTP {response.status}: {body[:300]!r}")
    arn = ET.fromstring(body).find("sts:GetCallerIdentityResult/sts:Arn", NS).text
    provider = conn.provider
    print(
        json.dumps(
            {
                "boto": boto.__version__,
                "access_key_id": provider.access_key,
                # Set only when the keys came from the metadata service (they expire).
                "from_metadata": provider._credential_expiry_time is not None,
                "arn": arn,
            }
        )
    )


if __name__ == "__main__":
    main()
