"""The WebSocket status route /v1/status/ws/{task_id} of `doclayout serve`, with a small
WebSocket client written here on a raw socket (Python's standard library has none): the
handshake (101, Sec-WebSocket-Accept as RFC 6455 computes it), docling-serve's messages
({"message": "connection" | "update" | "error", "task": TaskStatusResponse, "error"}): a
"connection" then an "update" at once, updates while the task runs, one per client message,
the last with task_status success, then the close; an unknown task: "error", "Task not
found.", then the close; a plain GET, a bad version or key: 400; the API key as ?api_key=;
ping answered with pong; an unmasked client frame closed with 1002; SIGTERM closes open
sessions with 1001."""
import base64
import hashlib
import json
import os
import signal
import socket
import struct
import time

from docling_util import make_pdf, multipart, request
from serve_util import Server, check, finish

LONG = make_pdf(6, lines_per_page=30)
# runs for several of the server's 200 ms status checks even in a quiet Release build (6 pages
# finished between two of them there, with one update and no progress seen)
PROGRESS = make_pdf(30, lines_per_page=30)
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WS:
    def __init__(self, port, path, key=None, version="13", extra_headers=""):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.key = key or base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n"
               "%s\r\n" % (path, self.key, version, extra_headers))
        self.s.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        self.headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip()
                        for l in lines[1:] if ":" in l}
        if self.status != 101:  # the error body, for the checks
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                d = self.s.recv(4096)
                if not d:
                    break
                self.buf += d
            self.body = self.buf[:n]

    def accept_ok(self):
        want = base64.b64encode(hashlib.sha1(self.key.encode() + GUID).digest()).decode()
        return self.headers.get("sec-websocket-accept") == want

    def _need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d

    def recv(self):
        """(opcode, payload)"""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, at = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, at = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
        assert not b1 & 0x80, "a server frame is not masked"
        self._need(at + n)
        data, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return b0 & 0x0F, data

    def message(self):
        op, data = self.recv()
        return json.loads(data) if op == 1 else (op, data)

    def send(self, op, data, mask=True):
        hdr = bytes([0x80 | op])
        m = os.urandom(4)
        n = len(data)
        hdr += bytes([(0x80 if mask else 0) | n]) if n < 126 else \
            bytes([(0x80 if mask else 0) | 126]) + struct.pack(">H", n)
        body = bytes(b ^ m[i % 4] for i, b in enumerate(data)) if mask else data
        self.s.sendall(hdr + (m if mask else b"") + body)

    def close(self):
        self.s.close()


s = Server()
p = s.http_port
body, ctype = multipart([("to_formats", "md")], [("files", "long.pdf", PROGRESS)])
code, j, _ = request(p, "POST", "/v1/convert/file/async", body, ctype)
tid = j["task_id"]
w = WS(p, "/v1/status/ws/%s" % tid)
check(w.status == 101 and w.accept_ok() and w.headers.get("upgrade", "").lower() == "websocket"
      and w.headers.get("connection", "").lower() == "upgrade",
      "handshake: 101, Sec-WebSocket-Accept right (%r %r)" % (w.status, w.headers))
m1 = w.message()
m2 = w.message()
check(m1.get("message") == "connection" and m1["task"]["task_id"] == tid and
      m1["error"] is None and m1["task"]["task_type"] == "convert",
      "first message: connection, with the task (%r)" % (m1,))
check(m2.get("message") == "update" and m2["task"]["task_id"] == tid, "then an update")
w.send(1, b"status?")
m3 = w.message()
check(isinstance(m3, dict) and m3["message"] == "update", "a client message: an update")
w.send(9, b"hi")
seen_pong, updates, last = False, [], None
while True:
    m = w.message()
    if isinstance(m, tuple):
        op, data = m
        if op == 0xA:
            seen_pong = data == b"hi"
            continue
        last = (op, data)
        break
    updates.append(m)
check(seen_pong, "ping: pong with its payload")
check(updates and updates[-1]["task"]["task_status"] == "success" and
      all(u["message"] == "update" for u in updates),
      "updates while it runs, the last one success (%d updates)" % len(updates))
check(len({u["task"]["task_meta"]["num_pages_done"] for u in updates}) > 1,
      "updates show progress (pages done)")
check(last and last[0] == 8 and struct.unpack(">H", last[1][:2])[0] == 1000,
      "then the close (1000) (%r)" % (last,))
w.close()

# a finished task: connection, update, close
w = WS(p, "/v1/status/ws/%s" % tid)
ms = [w.message() for _ in range(3)]
check(ms[0]["message"] == "connection" and ms[1]["task"]["task_status"] == "success" and
      ms[2][0] == 8, "a finished task: connection, update (success), close")
w.close()

# the client closes: the server answers the close
body, ctype = multipart([("to_formats", "md")], [("files", "long.pdf", LONG)])
code, j, _ = request(p, "POST", "/v1/convert/file/async", body, ctype)
w = WS(p, "/v1/status/ws/%s" % j["task_id"])
w.message(), w.message()
w.send(8, struct.pack(">H", 1000))
got = None
while got is None:
    m = w.message()
    if isinstance(m, tuple):
        got = m
check(got[0] == 8 and struct.unpack(">H", got[1][:2])[0] == 1000,
      "the client's close is answered with a close (%r)" % (got,))
w.close()

w = WS(p, "/v1/status/ws/0123456789abcdef0123456789abcdef")
m = w.message()
check(w.status == 101 and m == {"message": "error", "task": None, "error": "Task not found."},
      "an unknown task: error 'Task not found.' (%r)" % (m,))
check(w.recv()[0] == 8, "then the close")
w.close()

# an unmasked client frame: 1002
body, ctype = multipart([("to_formats", "md")], [("files", "long.pdf", LONG)])
code, j, _ = request(p, "POST", "/v1/convert/file/async", body, ctype)
w = WS(p, "/v1/status/ws/%s" % j["task_id"])
w.message(), w.message()
w.send(1, b"x", mask=False)
got = None
while got is None:
    m = w.message()
    if isinstance(m, tuple):
        got = m
check(got[0] == 8 and struct.unpack(">H", got[1][:2])[0] == 1002,
      "an unmasked client frame: close 1002 (%r)" % (got,))
w.close()

# a client frame over 64 KiB: 1009
body, ctype = multipart([("to_formats", "md")], [("files", "long.pdf", LONG)])
code, j, _ = request(p, "POST", "/v1/convert/file/async", body, ctype)
w = WS(p, "/v1/status/ws/%s" % j["task_id"])
w.message(), w.message()
w.s.sendall(bytes([0x81, 0x80 | 127]) + struct.pack(">Q", 70000) + os.urandom(4))
got = None
while got is None:
    m = w.message()
    if isinstance(m, tuple):
        got = m
check(got[0] == 8 and struct.unpack(">H", got[1][:2])[0] == 1009,
      "a client frame over 64 KiB: close 1009 (%r)" % (got,))
w.close()

# not a WebSocket request
code, j, _ = request(p, "GET", "/v1/status/ws/%s" % tid)
check(code == 400 and "WebSocket" in j.get("detail", ""), "a plain GET: 400 (%r)" % (j,))
w = WS(p, "/v1/status/ws/%s" % tid, version="8")
check(w.status == 400 and b"13" in w.body, "Sec-WebSocket-Version 8: 400")
w.close()
w = WS(p, "/v1/status/ws/%s" % tid, key="short")
check(w.status == 400 and b"Sec-WebSocket-Key" in w.body, "a malformed key: 400")
w.close()
s.stop()

# the API key as ?api_key=, as docling-serve's route takes it
s = Server("--api-key", "k3y")
p = s.http_port
w = WS(p, "/v1/status/ws/%s" % tid)
check(w.status == 401, "without the key: 401")
w.close()
w = WS(p, "/v1/status/ws/%s?api_key=k3y" % tid)
m = w.message() if w.status == 101 else {}
check(w.status == 101 and m.get("error") == "Task not found.",
      "?api_key=KEY: upgraded (this server does not know the task)")
w.close()
s.stop()
# SIGTERM with a session open: closed with 1001 (going away), the server stops
s = Server("--drain-timeout-s", "5")
p = s.http_port
body, ctype = multipart([("to_formats", "md")], [("files", "long.pdf", make_pdf(12, lines_per_page=30))])
code, j, _ = request(p, "POST", "/v1/convert/file/async", body, ctype)
w = WS(p, "/v1/status/ws/%s" % j["task_id"])
w.message(), w.message()
t0 = time.time()
s.p.send_signal(signal.SIGTERM)
got = None
try:
    while got is None:
        m = w.message()
        if isinstance(m, tuple) and m[0] == 8:
            got = m
except EOFError:
    pass
check(got is not None and struct.unpack(">H", got[1][:2])[0] == 1001,
      "SIGTERM: the session is closed with 1001 (%r)" % (got,))
w.close()
s.stop()
check(time.time() - t0 < 5, "and the server stops at once (%.1f s)" % (time.time() - t0))
finish("test_serve_docling_ws")
