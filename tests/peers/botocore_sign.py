"""Signs requests with botocore's own SigV4Auth, for credvend's differential test.

Reads one JSON object per line on stdin:
  {"method", "path", "params": [[name, value], ...] (decoded), "headers": [[name, value], ...],
   "body" (text, sent as UTF-8), "access_key", "secret_key", "token" (or null), "region",
   "service", "amz_date" ("YYYYMMDDTHHMMSSZ")}
and writes one JSON object per line on stdout: {"authorization", "canonical_request"}.

The timestamp is pinned by patching botocore.auth.get_current_datetime, the one place
SigV4Auth.add_auth reads the clock (it returns a naive UTC datetime, as botocore's does).
"""

import datetime
import json
import sys
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class CapturingSigV4Auth(botocore.auth.SigV4Auth):
    """SigV4Auth that remembers the canonical request it signed."""

    def string_to_sign(self, request, canonical_request):
        self.captured = canonical_request
        return super().string_to_sign(request, canonical_request)


def sign(case):
    request = AWSRequest(
        method=case["method"],
        url="https://example.amazonaws.com" + case["path"],
        data=case["body"].encode("utf-8"),
        # A list keeps repeated names; botocore encodes each name and value itself.
        params=[tuple(p) for p in case["params"]],
    )
    for name, value in case["headers"]:
        # HTTPHeaders appends on assignment, so repeated names stay in order.
        request.headers[name] = value
    credentials = Credentials(case["access_key"], case["secret_key"], case["token"])
    auth = CapturingSigV4Auth(credentials, case["service"], case["region"])
    now = datetime.datetime.strptime(case["amz_date"], "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.get_current_datetime", return_value=now):
        auth.add_auth(request)
    return {
        "authorization": request.headers["Authorization"],
        "canonical_request": auth.captured,
    }


def main():
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(sign(json.loads(line))))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
