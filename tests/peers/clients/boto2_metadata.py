"""boto 2.49 (the legacy SDK, IMDSv1 only) as a client of credvend's IMDS listener.

argv[1] is the listener's URL (boto 2 takes it instead of the fixed 169.254.169.254); argv[2]
says what to read:
  credentials  the instance role's credentials, the way boto 2's own credential provider asks
               (`get_instance_metadata(data='meta-data/iam/security-credentials/')`);
  identity     `get_instance_identity()`, the idiom scripts used to learn their region.
Prints one JSON line.
"""

import json
import sys

import boto.utils


def credentials(url):
    metadata = boto.utils.get_instance_metadata(
        url=url, data="meta-data/iam/security-credentials/", timeout=5, num_retries=1
    )
    if not metadata:
        raise SystemExit("boto found no instance metadata at " + url)
    roles = list(metadata.keys())
    return {"boto": boto.__version__, "roles": roles, "document": metadata[roles[0]]}


def identity(url):
    found = boto.utils.get_instance_identity(url=url, timeout=5, num_retries=1)
    if not found:
        raise SystemExit("boto found no instance identity at " + url)
    return {"boto": boto.__version__, "document": found["document"]}


def main():
    url, what = sys.argv[1], sys.argv[2]
    read = {"credentials": credentials, "identity": identity}[what]
    print(json.dumps(read(url)))


if __name__ == "__main__":
    main()
