"""A fault-injecting HTTP/1.1 proxy between credvend and moto, for scripts/soak.

    python fault_proxy.py UPSTREAM_PORT MODE_FILE STATS_FILE

Listens on 127.0.0.1 (a free port, printed as `listening on PORT`) and forwards each request
byte for byte but for `Connection: close` (the Host header too, so SigV4 signatures
stay valid), one request per connection, to 127.0.0.1:UPSTREAM_PORT,
unless the word in MODE_FILE, read per request, says otherwise:

    pass      forward
    http500   HTTP 500 with an InternalFailure error document
    throttle  HTTP 400 Throttling (retryable)
    garbage   HTTP 200 with a truncated AssumeRole document
    refuse    close the connection without answering
    hang      answer nothing for 30 s, then close (credvend's STS timeout is shorter)
    slow      wait 3 s, then forward

Counts per mode go to STATS_FILE as JSON after every request. Only loopback is ever reached.
"""

import asyncio
import json
import sys

UPSTREAM = int(sys.argv[1])
MODE_FILE, STATS_FILE = sys.argv[2], sys.argv[3]
stats = {}

CANNED = {
    "http500": (
        "500 Internal Server Error",
        "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>"
        "<Message>injected</Message></Error><RequestId>soak-500</RequestId></ErrorResponse>",
    ),
    "throttle": (
        "400 Bad Request",
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        "<Message>Rate exceeded</Message></Error><RequestId>soak-throttle</RequestId></ErrorResponse>",
    ),
    "garbage": (
        "200 OK",
        "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA",
    ),
}


def mode():
    try:
        with open(MODE_FILE) as f:
            return f.read().strip() or "pass"
    except OSError:
        return "pass"


async def read_message(reader):
    """One HTTP/1.1 message (head and Content-Length body) as bytes, or None at EOF."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head + body


async def forward(request):
    """Sends `request` upstream on a connection of its own and returns the whole answer."""
    head, _, body = request.partition(b"\r\n\r\n")
    lines = [l for l in head.split(b"\r\n") if not l.lower().startswith(b"connection:")]
    request = b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n" + body
    reader, writer = await asyncio.open_connection("127.0.0.1", UPSTREAM)
    try:
        writer.write(request)
        await writer.drain()
        return await reader.read(-1)
    finally:
        writer.close()


async def handle(reader, writer):
    try:
        while True:
            try:
                request = await read_message(reader)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            m = mode()
            stats[m] = stats.get(m, 0) + 1
            with open(STATS_FILE, "w") as f:
                json.dump(stats, f)
            if m == "refuse":
                writer.transport.abort()
                return
            if m == "hang":
                await asyncio.sleep(30)
                return
            if m in CANNED:
                status, body = CANNED[m]
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {len(body)}\r\n"
                    f"Connection: close\r\n\r\n{body}".encode()
                )
                await writer.drain()
                return
            if m == "slow":
                await asyncio.sleep(3)
            writer.write(await forward(request))
            await writer.drain()
            # The answer may be delimited by the end of the connection: end it.
            return
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
