"""A fake IAM Identity Center portal and SSO-OIDC endpoint for credvend's tests, plus the
token cache written and read with botocore's own code.

No SSO service runs here, so this follows the published request and response shapes:

- portal `GetRoleCredentials`: `GET /federation/credentials?account_id=A&role_name=R` with the
  access token in `x-amz-sso_bearer_token`; 200 `{"roleCredentials": {accessKeyId,
  secretAccessKey, sessionToken, expiration (epoch ms)}}`; 401 `UnauthorizedException` for a
  token it did not issue, 403 `ForbiddenException` for another account or role, 400
  `InvalidRequestException` without the parameters.
- OIDC `CreateToken`: `POST /token` with JSON `{clientId, clientSecret, grantType, refreshToken}`;
  for the refresh grant with the registered client and the current refresh token, 200
  `{accessToken, tokenType, expiresIn, refreshToken}` (a new access token and a rotated refresh
  token, which it then accepts); else 400 `{"error": "invalid_grant" | "invalid_client" ...}`.
- `GET /_calls`: what it was asked, for the test (bearer tokens shown only as accepted or not).

Usage:
  sso_portal.py serve SETTINGS.json   prints {"url": ...} and serves until stdin closes
  sso_portal.py save CACHE_DIR START_URL SESSION|- TOKEN.json
                                      writes the token as the CLI does (SSOTokenLoader.save_token
                                      through botocore's JSONFileCache and tokens._sso_json_dumps)
  sso_portal.py load CACHE_DIR START_URL SESSION|-
                                      reads it back with SSOTokenLoader and prints it as JSON, then
                                      the bytes botocore itself would write for it

SETTINGS: {"account_id", "role_name", "credentials": {"access_key_id", "secret_access_key",
"session_token"}, "access_tokens": [...accepted...], "client_id", "client_secret",
"refresh_token"}.
"""

import json
import os
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.tokens import _sso_json_dumps
from botocore.utils import JSONFileCache, SSOTokenLoader


class State:
    def __init__(self, settings):
        self.settings = settings
        self.accepted = set(settings["access_tokens"])
        self.refresh_token = settings.get("refresh_token")
        self.calls = []
        self.issued = 0
        self.lock = threading.Lock()


def handler(state):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body, error_type=None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if error_type:
                self.send_header("x-amzn-ErrorType", error_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/_calls":
                with state.lock:
                    return self.answer(200, state.calls)
            if url.path != "/federation/credentials":
                return self.answer(404, {"message": "not found"})
            query = urllib.parse.parse_qs(url.query)
            token = self.headers.get("x-amz-sso_bearer_token")
            s = state.settings
            with state.lock:
                ok = token in state.accepted
                state.calls.append({"op": "GetRoleCredentials", "token_accepted": ok,
                                    "account_id": query.get("account_id", [None])[0],
                                    "role_name": query.get("role_name", [None])[0]})
            if "account_id" not in query or "role_name" not in query:
                return self.answer(400, {"message": "account_id and role_name are required"},
                                   "InvalidRequestException")
            if not ok:
                return self.answer(401, {"message": "Session token not found or invalid"},
                                   "UnauthorizedException")
            if query["account_id"] != [s["account_id"]] or query["role_name"] != [s["role_name"]]:
                return self.answer(403, {"message": "No access"}, "ForbiddenException")
            c = s["credentials"]
            self.answer(200, {"roleCredentials": {
                "accessKeyId": c["access_key_id"],
                "secretAccessKey": c["secret_access_key"],
                "sessionToken": c["session_token"],
                "expiration": int((time.time() + 3600) * 1000),
            }})

        def do_POST(self):
            if self.path != "/token":
                return self.answer(404, {"message": "not found"})
            length = int(self.headers.get("Content-Length", "0"))
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                return self.answer(400, {"error": "invalid_request"})
            s = state.settings
            with state.lock:
                state.calls.append({"op": "CreateToken", "grantType": body.get("grantType"),
                                    "clientId": body.get("clientId")})
                if body.get("grantType") != "refresh_token":
                    return self.answer(400, {"error": "unsupported_grant_type"})
                if body.get("clientId") != s["client_id"] or body.get("clientSecret") != s["client_secret"]:
                    return self.answer(400, {"error": "invalid_client",
                                             "error_description": "unknown client"})
                if state.refresh_token is None or body.get("refreshToken") != state.refresh_token:
                    return self.answer(400, {"error": "invalid_grant",
                                             "error_description": "refresh token is invalid"})
                state.issued += 1
                access = f"fake-access-token-{state.issued}"
                state.refresh_token = f"fake-refresh-token-{state.issued}"
                state.accepted.add(access)
                answer = {"accessToken": access, "tokenType": "Bearer", "expiresIn": 28800,
                          "refreshToken": state.refresh_token}
            self.answer(200, answer)

    return Handler


def serve(settings_file):
    with open(settings_file) as f:
        state = State(json.load(f))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"url": f"http://127.0.0.1:{server.server_port}"}), flush=True)
    sys.stdin.read()  # returns at EOF: the test process is gone
    server.shutdown()


def cache(cache_dir):
    # The CLI's own cache object: botocore's JSONFileCache with the SSO dumps function.
    return JSONFileCache(cache_dir, dumps_func=_sso_json_dumps)


def save(cache_dir, start_url, session, token_file):
    with open(token_file) as f:
        token = json.load(f)
    session = None if session == "-" else session
    SSOTokenLoader(cache=cache(cache_dir)).save_token(start_url, token, session_name=session)


def load(cache_dir, start_url, session):
    session = None if session == "-" else session
    token = SSOTokenLoader(cache=cache(cache_dir))(start_url, session_name=session)
    with tempfile.TemporaryDirectory() as other:
        cache(other)["again"] = token
        with open(os.path.join(other, "again.json")) as f:
            again = f.read()
    print(json.dumps({"token": token, "as_botocore_writes_it": again}))


def main():
    command, args = sys.argv[1], sys.argv[2:]
    {"serve": serve, "save": save, "load": load}[command](*args)


if __name__ == "__main__":
    main()
