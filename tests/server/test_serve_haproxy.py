"""Two `doclayout serve` replicas behind Debian's haproxy on loopback (the docs/server.md
set-up): requests spread over both; after one replica is killed with kill -9, every following
request still succeeds (a refused connection is redispatched to the other replica) with the
right results."""
import os
import shutil
import signal
import subprocess
import sys
import time

from serve_util import (MODEL_NAME, TMP, Server, check, curl, finish, free_port, infer_binary,
                        make_pages, reference)

haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy")
                                      else None)
if not haproxy:
    print("skipped: no haproxy (apt-get install haproxy)")
    sys.exit(1 if os.environ.get("CI") == "true" else 77)

pages = make_pages(1, seed=5)
sizes = [(1654, 2339)]
ref = reference(pages, sizes)
r1, r2 = Server(), Server()
port = free_port()
cfg = os.path.join(TMP, "haproxy.cfg")
with open(cfg, "w") as f:
    f.write("""global
    maxconn 64
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch
frontend kserve
    bind 127.0.0.1:%d
    default_backend doclayout
backend doclayout
    balance roundrobin
    option httpchk GET /v2/health/ready
    http-check expect status 200
    server r1 127.0.0.1:%d check inter 500ms fall 2 rise 1
    server r2 127.0.0.1:%d check inter 500ms fall 2 rise 1
""" % (port, r1.http_port, r2.http_port))
hp = subprocess.Popen([haproxy, "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                      stderr=open(os.path.join(TMP, "haproxy.log"), "wb"))
base = "http://127.0.0.1:%d" % port
t_end = time.time() + 30
while time.time() < t_end and curl(base + "/v2/health/ready", timeout=5)[0] != 200:
    time.sleep(0.2)
infer = base + "/v2/models/%s/infer" % MODEL_NAME
ok = 0
for i in range(6):
    code, _, out = infer_binary(infer, pages, sizes)
    ok += code == 200 and (out["labels"], out["boxes"], out["scores"]) == tuple(ref)
check(ok == 6, "6 requests through haproxy, all right (%d)" % ok)


def served(srv):
    return sum(1 for l in srv.stderr().splitlines() if '"/v2/models/%s/infer"' % MODEL_NAME in l
               and '"status":200' in l)


n1, n2 = served(r1), served(r2)
check(n1 >= 1 and n2 >= 1 and n1 + n2 == 6, "requests spread over both replicas (%d + %d)" % (n1, n2))

r1.p.send_signal(signal.SIGKILL)  # kill -9: no draining, the port just goes away
r1.p.wait()
ok = 0
for i in range(8):
    code, _, out = infer_binary(infer, pages, sizes)
    ok += code == 200 and (out["labels"], out["boxes"], out["scores"]) == tuple(ref)
check(ok == 8, "after kill -9 of one replica, 8 of 8 requests succeed (%d)" % ok)
check(served(r2) == n2 + 8, "the surviving replica served them")
hp.send_signal(signal.SIGTERM)
hp.wait(30)
r1.stop()
check(r2.stop() == 0, "the surviving replica: SIGTERM, exit 0")
finish("test_serve_haproxy")
