"""The soak's careful client: reads credentials from both endpoints twice a second and checks
each answer, as an SDK would take it.

    python soak_reader.py SECONDS IMDS_URL ECS_URL ECS_TOKEN SUMMARY_FILE

Each round: IMDSv2 token PUT, the role listing, the role's credentials; the ECS endpoint with
its Authorization. A read passes when it is HTTP 200 JSON with AccessKeyId, SecretAccessKey,
Token and an Expiration in the future (less the second its whole-second form cuts). Writes a JSON summary (reads, failures with their times
and reasons, the distinct access key ids seen, the least remaining validity) and exits 0 (the
soak judges). Bounded by SECONDS; every request has a 5 s timeout; only loopback is asked.
"""

import datetime
import json
import sys
import time
import urllib.request

seconds, imds, ecs, ecs_token, summary_file = (
    float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
start = time.monotonic()
reads, failures, keys, least = 0, [], set(), None


def call(url, method="GET", headers=None):
    req = urllib.request.Request(url, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, r.read().decode()


def check(where, fetch):
    global reads, least
    reads += 1
    try:
        status, body = fetch()
        doc = json.loads(body)
        for field in ("AccessKeyId", "SecretAccessKey", "Token", "Expiration"):
            if not doc.get(field):
                raise ValueError(f"no {field}")
        exp = datetime.datetime.strptime(doc["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        left = (exp - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        # Expiration is shown in whole seconds, cut down: up to 1 s early is the cut, not expiry.
        if left <= -1:
            raise ValueError(f"expired {-left:.0f} s ago")
        least = left if least is None else min(least, left)
        keys.add(doc["AccessKeyId"])
    except Exception as e:  # every way a client could fail counts
        failures.append({"at_s": round(time.monotonic() - start, 1), "where": where, "why": str(e)[:200]})


def imds_read():
    _, token = call(f"{imds}/latest/api/token", "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    h = {"X-aws-ec2-metadata-token": token}
    _, role = call(f"{imds}/latest/meta-data/iam/security-credentials/", headers=h)
    return call(f"{imds}/latest/meta-data/iam/security-credentials/{role}", headers=h)


while time.monotonic() - start < seconds:
    check("imds", imds_read)
    check("ecs", lambda: call(f"{ecs}/role/app", headers={"Authorization": ecs_token}))
    time.sleep(0.5)

with open(summary_file, "w") as f:
    json.dump({"reads": reads, "failures": failures, "keys": len(keys),
               "least_remaining_s": None if least is None else round(least)}, f)
