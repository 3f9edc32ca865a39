#!/usr/bin/env python3
"""An HTTPS client for the TLS listener specs (Python's ssl and http.client).

    https_client.py HOST PORT CA [--count N] [--method M] [--path P] [--header 'Name: value']

sends the body read from stdin N times (default 1) on one kept-alive connection, verifying the
server's certificate against CA for HOST, and prints one JSON object: {"cert_sha256", "alpn",
"replies": [{"status", "body"}, ...]}, or {"error": "..."} when the connection fails.
"""
import argparse
import hashlib
import http.client
import json
import ssl
import sys

ARGS = argparse.ArgumentParser()
ARGS.add_argument("host")
ARGS.add_argument("port", type=int)
ARGS.add_argument("ca")
ARGS.add_argument("--count", type=int, default=1)
ARGS.add_argument("--method", default="POST")
ARGS.add_argument("--path", default="/api/v2/task")
ARGS.add_argument("--header", action="append", default=[])
OPTIONS = ARGS.parse_args()


def main():
    body = sys.stdin.buffer.read()
    context = ssl.create_default_context(cafile=OPTIONS.ca)
    context.set_alpn_protocols(["h2", "http/1.1"])
    headers = {"Content-Type": "application/xml"}
    for header in OPTIONS.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    try:
        conn = http.client.HTTPSConnection(OPTIONS.host, OPTIONS.port, context=context, timeout=10)
        replies = []
        for _ in range(OPTIONS.count):
            conn.request(OPTIONS.method, OPTIONS.path, body=body, headers=headers)
            response = conn.getresponse()
            replies.append({"status": response.status, "body": response.read().decode("utf-8", "replace")})
        der = conn.sock.getpeercert(binary_form=True)
        result = {"cert_sha256": hashlib.sha256(der).hexdigest(), "alpn": conn.sock.selected_alpn_protocol(),
                  "replies": replies}
        conn.close()
    except (OSError, http.client.HTTPException) as error:
        result = {"error": "%s: %s" % (type(error).__name__, error)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
