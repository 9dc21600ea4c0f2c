"""boto 2.49 (the legacy SDK, IMDSv1 only) as a client of credvend's IMDS listener.

Reads the instance-role credentials the way boto 2's own credential provider does
(`get_instance_metadata(data='meta-data/iam/security-credentials/')`), but with the listener's
URL (argv[1]) instead of the fixed 169.254.169.254. Prints one JSON line: the role names and
the credentials document of the first role.
"""

import json
import sys

import boto.utils


def main():
    url = sys.argv[1]
    metadata = boto.utils.get_instance_metadata(
        url=url, data="meta-data/iam/security-credentials/", timeout=5, num_retries=1
    )
    if not metadata:
        raise SystemExit("boto found no instance metadata at " + url)
    roles = list(metadata.keys())
    document = metadata[roles[0]]
    print(json.dumps({"boto": boto.__version__, "roles": roles, "document": document}))


if __name__ == "__main__":
    main()
