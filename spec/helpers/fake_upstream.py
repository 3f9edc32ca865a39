#!/usr/bin/env python3
"""A task-interface upstream that misbehaves on purpose, for the bridge specs.

    fake_upstream.py MODE LOG [--port N] [--delay SEC] [--tls CERT KEY [--client-ca CA]]

listens on 127.0.0.1 (port N, or a free one), prints "listening on PORT" and serves until killed. Every
request it reads completely is appended to LOG as one JSON line ({"conn", "seq", "method",
"path", "task_id", "headers", "body", "body_hex"}) before it answers, so a spec can count what reached it. Replies
echo the request's task_id (<params><task_id>N</task_id></params>), so a reply handed to the
wrong caller shows.

MODE says how it answers:
  ok                normal HTTP/1.1 keep-alive replies
  continue          100 Continue and 102 Processing before each reply
  double            each reply twice (the second 50 ms later, on the idle connection)
  idle_bytes        50 ms after each reply, a complete unsolicited reply for task 999
  stale_first       on a reused connection, the previous request's reply once more before the
                    reply: the stray bytes come only once the next request is sent, after any
                    check a client could make before reusing the connection
  close_reused      answers the first request of a connection; closes after reading any later one
  close_after_read  closes the connection after reading each request, without a reply
  http10            HTTP/1.0 replies without Content-Length, ended by closing
  slow              waits 3 s (or --delay SEC) before each reply
  slow_sick         the same, but once it has read a call it answers the health probe (HEAD)
                    503 at once: it is marked down while the call waits on it
  garbage           answers bytes that are not HTTP, then closes
  huge              a 2 MiB reply
  latin1            a reply in ISO-8859-1 (an item "B\xe4ckerei"), so labelled in its Content-Type
                    and its XML declaration
  latin1_declared   the same, named in the XML declaration only
  many_elements     a valid reply of about 720 KB: the task_id and 90,000 <e> elements
  too_many_elements a well-formed reply of about 840 KB with 105,000 elements (past the gateway's limit)
  utf16             a well-formed reply in UTF-16 with its BOM, so labelled (not an encoding the
                    interface documents)
  status_500        answers 500 with a reply body
  status_413        answers 413 Content Too Large (refused unprocessed)
  early_hints       103 Early Hints and a 100 Continue, both with headers, before each reply
  switching         an unasked-for 101 Switching Protocols before each reply
  trickle           the reply's head, then its body one byte every 0.2 s
  short_body        a Content-Length 50 bytes longer than the body, then a close
  two_lengths       two Content-Length headers that disagree
  bad_status        a status line whose code is not a number
  bare_lf           lines ended by LF alone (tolerated by HTTP/1.1 parsers)
  bad_chunk         a chunked body whose chunk size is not hex
  negative_length   Content-Length: -1
  http09            the body alone, no status line (HTTP/0.9)
  head_503          answers the health probe (HEAD) 503, the calls normally
  switching_held    an unasked-for 101 Switching Protocols, then the connection held open, silent
  reset_after_read  resets the connection (RST) after reading each request, without a reply
  status_204        204 No Content, no body
  status_302        302 Found to another address, with a reply body
  status_413        413 Content Too Large, with a reply body
  receiver          an outbox receiver: 200 to every POST (the log is the record)
  slow_receiver     the same, answering 1 s after reading each request
--delay SEC makes a receiver or a slow upstream answer SEC seconds after reading each request.
"""
import argparse
import json
import os
import socket
import socketserver
import ssl
import struct
import threading
import time

ARGS = argparse.ArgumentParser()
ARGS.add_argument("mode")
ARGS.add_argument("log")
ARGS.add_argument("--port", type=int, default=0)
ARGS.add_argument("--delay", type=float, default=0)
ARGS.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
ARGS.add_argument("--client-ca", help="with --tls: require a client certificate this CA signed")
OPTIONS = ARGS.parse_args()
MODE, LOG, TLS = OPTIONS.mode, OPTIONS.log, OPTIONS.tls
log_lock = threading.Lock()
calls_read = threading.Event()  # slow_sick: a call other than a probe has been read
connections = 0


def reply_for(task_id, version="HTTP/1.1", length=True, status="200 OK"):
    body = ('<?xml version="1.0"?>\n<response>\n  <params>\n    <task_id>%s</task_id>\n'
            '  </params>\n</response>\n' % task_id).encode()
    head = "%s %s\r\nContent-Type: application/xml\r\n" % (version, status)
    if length:
        head += "Content-Length: %d\r\n" % len(body)
    return head.encode() + b"\r\n" + body


def canned(task_id):
    """The replies of the modes that send a reply of a wrong shape, then close."""
    good = reply_for(task_id)
    head, _, body = good.partition(b"\r\n\r\n")
    return {
        "early_hints": b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                       b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n" + good,
        "switching": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n" + good,
        "short_body": head.replace(b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 50))
                      + b"\r\n\r\n" + body,
        "two_lengths": head + b"\r\nContent-Length: 10\r\n\r\n" + body,
        "bad_status": good.replace(b"200 OK", b"2OO OK", 1),
        "bare_lf": good.replace(b"\r\n", b"\n"),
        "bad_chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + body + b"\r\n0\r\n\r\n",
        "negative_length": head.replace(b"Content-Length: %d" % len(body), b"Content-Length: -1") + b"\r\n\r\n" + body,
        "http09": body,
    }


def read_request(stream):
    """Reads one request; returns (method, path, headers, body) or None at EOF."""
    line = stream.readline()
    while line in (b"\r\n", b"\n"):
        line = stream.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers = {}
    while True:
        header = stream.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", "0")))
    return method, path, headers, body


def path_id(path):
    """The id a GET names in its query (?id=N), echoed like a POST's task_id."""
    _, _, query = path.partition("?id=")
    return query or None


def task_id_of(body):
    text = body.decode("utf-8", "replace")
    start = text.find("<task_id>")
    if start < 0:
        return None
    return text[start + 9:text.find("</task_id>", start)].strip()


class Handler(socketserver.StreamRequestHandler):
    def setup(self):
        if TLS:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(TLS[0], TLS[1])
            if OPTIONS.client_ca:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(OPTIONS.client_ca)
            self.request = context.wrap_socket(self.request, server_side=True)
        super().setup()

    def handle(self):
        global connections
        with log_lock:
            connections += 1
            conn = connections
        seq = 0
        previous = None
        while True:
            try:
                request = read_request(self.rfile)
            except (OSError, ValueError):
                return
            if request is None:
                return
            method, path, headers, body = request
            seq += 1
            task_id = task_id_of(body) or path_id(path)
            with log_lock, open(LOG, "a") as log:
                log.write(json.dumps({"conn": conn, "seq": seq, "method": method, "path": path,
                                      "task_id": task_id, "headers": headers,
                                      "body": body.decode("utf-8", "replace"),
                                      "body_hex": body.hex()}) + "\n")
            if MODE == "stale_first" and previous is not None:
                self.send(reply_for(previous))
            previous = task_id
            if not self.answer(method, seq, task_id):
                return

    def send(self, data):
        self.wfile.write(data)
        self.wfile.flush()

    def answer(self, method, seq, task_id):
        """Answers one request; returns False when the connection is to be closed."""
        if method == "HEAD":
            sick = MODE == "head_503" or MODE == "slow_sick" and calls_read.is_set()
            status = b"503 Service Unavailable" if sick else b"200 OK"
            self.send(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
            return True
        calls_read.set()
        if MODE in CANNED_MODES:
            self.send(canned(task_id)[MODE])
            return MODE in ("early_hints", "bare_lf")
        if MODE == "trickle":
            head, _, body = reply_for(task_id).partition(b"\r\n\r\n")
            self.send(head + b"\r\n\r\n")
            for i in range(len(body)):
                time.sleep(0.2)
                self.send(body[i:i + 1])
            return True
        if MODE == "continue":
            self.send(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n")
            time.sleep(0.02)
        elif MODE == "close_reused" and seq > 1 or MODE == "close_after_read":
            return False
        elif MODE == "http10":
            self.send(reply_for(task_id, "HTTP/1.0", length=False))
            return False
        elif MODE in ("slow", "slow_sick"):
            time.sleep(OPTIONS.delay or 3)
        elif MODE == "garbage":
            self.send(b"\x00\x01garbage that is no HTTP at all\r\n\r\n")
            return False
        elif MODE == "huge":
            filler = b"x" * (2 * 1024 * 1024)
            self.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(filler) + filler)
            return True
        elif MODE in ("latin1", "latin1_declared"):
            body = (b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<response><params><task_id>'
                    + task_id.encode() + b"</task_id><item>B\xe4ckerei</item></params></response>\n")
            charset = "; charset=ISO-8859-1" if MODE == "latin1" else ""
            self.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml%s\r\nContent-Length: %d\r\n\r\n"
                      % (charset.encode(), len(body)) + body)
            return True
        elif MODE == "many_elements":
            body = ('<?xml version="1.0"?>\n<response><params><task_id>%s</task_id>' % task_id
                    + "<e>1</e>" * 90000 + "</params></response>\n").encode()
            self.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body)
            return True
        elif MODE in ("too_many_elements", "utf16"):
            if MODE == "utf16":
                body = ('<?xml version="1.0"?><response><params><task_id>%s</task_id></params></response>'
                        % task_id).encode("utf-16")
                kind = b"text/xml; charset=UTF-16"
            else:
                body = ('<response><params><task_id>%s</task_id>' % task_id + "<e>1</e>" * 105000
                        + "</params></response>").encode()
                kind = b"application/xml"
            self.send(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                      % (kind, len(body)) + body)
            return True
        elif MODE == "switching_held":
            self.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
            time.sleep(60)
            return False
        elif MODE == "reset_after_read":
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(self.request.detach())  # now, before anything could send a FIN
            return False
        elif MODE == "status_204":
            self.send(b"HTTP/1.1 204 No Content\r\n\r\n")
            return True
        elif MODE in ("status_302", "status_413"):
            status = "302 Found\r\nLocation: http://127.0.0.1:1/" if MODE == "status_302" else "413 Content Too Large"
            self.send(reply_for(task_id, status=status))
            return True
        elif MODE == "status_500":
            self.send(reply_for(task_id, status="500 Internal Server Error"))
            return True
        elif MODE == "status_413":
            self.send(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
            return True
        elif MODE in ("receiver", "slow_receiver"):
            time.sleep(1 if MODE == "slow_receiver" else OPTIONS.delay)
            self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            return True
        self.send(reply_for(task_id))
        if MODE in ("double", "idle_bytes"):
            time.sleep(0.05)
            self.send(reply_for(task_id if MODE == "double" else "999"))
        return True


CANNED_MODES = canned("1").keys()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    server = Server(("127.0.0.1", OPTIONS.port), Handler)
    print("listening on %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
