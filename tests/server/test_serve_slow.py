"""Slow clients cannot hold the HTTP server: a client that trickles its request's headers a
byte at a time (which restarts libmicrohttpd's idle timer with every byte) is cut off once
--read-timeout-s has passed since it connected; one that trickles the next request line on a
kept-alive connection is cut off --idle-timeout-s after its last reply; a normal client is
served meanwhile. A body announced past --max-body-mb gets 413 at once, before any of it is
sent. --max-connections-per-ip refuses a third connection from one address."""
import select
import socket
import threading
import time

from serve_util import MODEL_NAME, Server, check, curl, finish, infer_binary, make_pages

READ_S, IDLE_S = 2, 3


def trickle(port, first, rest, interval=0.25, limit=20.0):
    """Connect, send `first`, then `rest` a byte every `interval`; seconds from connecting
    until the server closed the connection (None when it never did within `limit`)."""
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    try:
        s.sendall(first)
        for i in range(len(rest)):
            if time.monotonic() - t0 > limit:
                return None
            s.sendall(rest[i:i + 1])
            r, _, _ = select.select([s], [], [], interval)
            if r and not s.recv(4096):
                return time.monotonic() - t0
        return None
    except (BrokenPipeError, ConnectionResetError):
        return time.monotonic() - t0
    finally:
        s.close()


srv = Server("--read-timeout-s", str(READ_S), "--idle-timeout-s", str(IDLE_S))
port = srv.http_port
infer = srv.url + "/v2/models/%s/infer" % MODEL_NAME
pages = make_pages(1, seed=3)

# A: headers trickled on a new connection, while a normal client is served
got = {}
slow = threading.Thread(target=lambda: got.update(t=trickle(
    port, b"POST /v2/models/%s/infer HTTP/1.1\r\nHost: x\r\n" % MODEL_NAME.encode(),
    b"X-Slow: " + b"a" * 200)))
slow.start()
time.sleep(0.5)
t0 = time.monotonic()
code = curl(srv.url + "/v2/models/%s" % MODEL_NAME, timeout=10)[0]
ok_meanwhile = code == 200 and slow.is_alive()
slow.join()
check(ok_meanwhile, "a normal client is served while a slow one trickles its headers (%.2f s)" %
      (time.monotonic() - t0))
check(infer_binary(infer, pages, [(612, 792)])[0] == 200, "and an inference after it")
t = got.get("t")
check(t is not None and READ_S - 0.5 <= t <= READ_S + 2.5,
      "headers trickled a byte every 0.25 s: cut off after %s s (--read-timeout-s %d)" %
      (t and round(t, 2), READ_S))

# B: a kept-alive connection that trickles its next request line
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
reply = b""
while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
check(reply.startswith(b"HTTP/1.1 200"), "a keep-alive request answered")
t0 = time.monotonic()
closed = None
try:
    for b in b"GET /v2/health/live" + b"e" * 100:
        s.sendall(bytes([b]))
        r, _, _ = select.select([s], [], [], 0.25)
        if r and not s.recv(4096):
            closed = time.monotonic() - t0
            break
        if time.monotonic() - t0 > 20:
            break
except (BrokenPipeError, ConnectionResetError):
    closed = time.monotonic() - t0
s.close()
check(closed is not None and IDLE_S - 0.5 <= closed <= IDLE_S + 2.5,
      "next request line trickled on a kept-alive connection: cut off after %s s "
      "(--idle-timeout-s %d)" % (closed and round(closed, 2), IDLE_S))

# C: a body announced past --max-body-mb: 413 before any of it is sent
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(10)
t0 = time.monotonic()
s.sendall(b"POST /v2/models/%s/infer HTTP/1.1\r\nHost: x\r\nContent-Type: "
          b"application/octet-stream\r\nContent-Length: 4000000000\r\n\r\n" % MODEL_NAME.encode())
reply = b""
try:
    while b"\r\n\r\n" not in reply:
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
except socket.timeout:
    pass
s.close()
check(reply.startswith(b"HTTP/1.1 413") and time.monotonic() - t0 < 5,
      "Content-Length 4 GB: 413 at once, no body read (%r)" % reply[:40])

code, _, body = curl(srv.url + "/metrics")
cut = [l for l in body.decode().splitlines() if l.startswith("doclayout_slow_clients_closed_total")]
check(cut and int(cut[0].split()[1]) >= 2, "metrics count the slow clients cut off (%s)" % cut)
check(curl(srv.url + "/v2/health/ready")[0] == 200, "the server still answers")
check(srv.stop() == 0, "SIGTERM, exit 0")
log = open(srv.log_path, "rb").read().decode()
check('"status":408' in log and "read-timeout-s" in log,
      "the access log names the slow client's cut-off")

# D: --max-connections-per-ip
srv = Server("--max-connections-per-ip", "2")
held = [socket.create_connection(("127.0.0.1", srv.http_port)) for _ in range(2)]
time.sleep(0.3)
third = socket.create_connection(("127.0.0.1", srv.http_port))
third.settimeout(5)
try:
    third.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    refused = third.recv(4096) == b""
except (ConnectionResetError, BrokenPipeError):
    refused = True
except socket.timeout:
    refused = False
third.close()
check(refused, "a third connection from one address is closed (--max-connections-per-ip 2)")
for h in held:
    h.close()
time.sleep(0.3)
check(curl(srv.url + "/v2/health/live")[0] == 200, "once those close, it is served")
check(srv.stop() == 0, "SIGTERM, exit 0")
finish("test_serve_slow")
