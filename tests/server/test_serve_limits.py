"""doclayout serve under bad and heavy use: the API key (every route but health, both
transports), malformed requests of every kind (a 4xx JSON error naming the problem, the
server unharmed), body and page caps, a full queue (429 + Retry-After, RESOURCE_EXHAUSTED),
the per-request deadline (504, DEADLINE_EXCEEDED), SIGTERM draining accepted requests (exit
0), ports that are in use (no sharing), and usage errors."""
import json
import os
import signal
import subprocess
import threading
import time

from grpc_util import channel, docling_request, import_grpc, outputs_of
from serve_util import (CLI, MODEL, MODEL_NAME, Server, binary_body, check, curl, finish,
                        infer_binary, make_pages, ref_page, reference)

grpc, pb2, pb2_grpc = import_grpc()
pages = make_pages(2, seed=11)
sizes = [(640, 480), (2480, 3508)]
ref = reference(pages, sizes)
p0 = ref_page(ref, 0)
KEY = "s3cret-key"
KEYH = "X-Api-Key: " + KEY


def grpc_code(fn, *a, **kw):
    try:
        fn(*a, timeout=60, **kw)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


# ---- A: the API key, malformed requests, caps -------------------------------------------------
os.environ["DL_TEST_KEY"] = KEY
srv = Server("--api-key-env", "DL_TEST_KEY", "--max-body-mb", "16", "--max-request-pages", "2",
             grpc=True)
base = srv.url
infer = base + "/v2/models/%s/infer" % MODEL_NAME
for path in ("/v2/health/live", "/v2/health/ready"):
    check(curl(base + path)[0] == 200, "%s needs no API key" % path)
for path in ("/v2", "/v2/models/" + MODEL_NAME, "/v2/models/%s/ready" % MODEL_NAME, "/metrics"):
    code, hdrs, body = curl(base + path)
    check(code == 401 and "X-Api-Key" in json.loads(body)["error"], "%s without a key: 401" % path)
    check(curl(base + path, headers=["X-Api-Key: wrong"])[0] == 401, "%s, wrong key: 401" % path)
    check(curl(base + path, headers=[KEYH])[0] == 200, "%s with the key: 200" % path)
code, _, out = infer_binary(infer, pages[:1], sizes[:1])
check(code == 401, "infer without a key: 401")
code, _, out = infer_binary(infer, pages[:1], sizes[:1], headers=[KEYH])
check(code == 200 and out["scores"] == p0[2], "infer with the key equals the reference")

stub = pb2_grpc.GRPCInferenceServiceStub(channel(grpc, srv.grpc_port))
good_md = [("x-api-key", KEY)]
check(grpc_code(stub.ServerLive, pb2.ServerLiveRequest())[0] == grpc.StatusCode.OK,
      "gRPC ServerLive needs no key")
check(grpc_code(stub.ServerReady, pb2.ServerReadyRequest())[0] == grpc.StatusCode.OK,
      "gRPC ServerReady needs no key")
check(grpc_code(stub.ModelMetadata, pb2.ModelMetadataRequest(name=MODEL_NAME))[0] ==
      grpc.StatusCode.UNAUTHENTICATED, "gRPC ModelMetadata without a key: UNAUTHENTICATED")
check(grpc_code(stub.ModelMetadata, pb2.ModelMetadataRequest(name=MODEL_NAME),
                metadata=[("x-api-key", "nope")])[0] == grpc.StatusCode.UNAUTHENTICATED,
      "gRPC, wrong key: UNAUTHENTICATED")
req = docling_request(pb2, MODEL_NAME, pages[:1], sizes[:1])
check(grpc_code(stub.ModelInfer, req)[0] == grpc.StatusCode.UNAUTHENTICATED,
      "gRPC ModelInfer without a key: UNAUTHENTICATED")
out = outputs_of(stub.ModelInfer(req, timeout=60, metadata=good_md))
check(out["boxes"] == p0[1], "gRPC ModelInfer with the key equals the reference")


def post(body, headers=(), url=infer):
    return curl(url, body, [KEYH] + list(headers))


def bad(what, code_want, body, headers=(), must=None, url=infer, method=None):
    code, hdrs, data = curl(url, body, [KEYH] + list(headers), method=method)
    try:
        text = data.decode("utf-8")
        err = json.loads(text).get("error", "")
    except (UnicodeDecodeError, ValueError, AttributeError):
        err = None
    check(code == code_want and err is not None and (must is None or must in err),
          "%s: %d, error %r" % (what, code, err))


hl, good = binary_body(pages[:1], sizes[:1])
binh = ["Content-Type: application/octet-stream", "Inference-Header-Content-Length: %d" % hl]
bad("not JSON", 400, b"this is not json", must="JSON")
bad("no inputs", 400, b'{"outputs": []}', must="inputs")
bad("inputs not an array", 400, b'{"inputs": 3}', must="inputs")
bad("input without a shape", 400, b'{"inputs": [{"name": "images", "datatype": "FP32"}]}',
    must="shape")
bad("negative dimension", 400,
    b'{"inputs": [{"name": "images", "datatype": "FP32", "shape": [-1], "data": []}]}',
    must="shape")


def header_with(mutate):
    h = json.loads(good[:hl])
    mutate(h)
    hb = json.dumps(h).encode()
    return hb + good[hl:], ["Content-Type: application/octet-stream",
                            "Inference-Header-Content-Length: %d" % len(hb)]


body, hh = header_with(lambda h: h["inputs"][0].update(name="pixel_values"))
bad("unknown input", 400, body, hh, must="unknown input 'pixel_values'")
body, hh = header_with(lambda h: h["inputs"][0].update(datatype="FP16"))
bad("FP16 images", 400, body, hh, must="FP16")
body, hh = header_with(lambda h: h["inputs"][1].update(datatype="INT32"))
bad("INT32 sizes", 400, body, hh, must="INT64")
body, hh = header_with(lambda h: h["inputs"][0].update(shape=[1, 3, 320, 1280]))
bad("wrong image shape", 400, body, hh, must="[N,3,640,640]")
body, hh = header_with(lambda h: h["inputs"][1].update(shape=[2, 2]))
bad("sizes for 2 pages, 1 image", 400, body, hh, must="orig_target_sizes")
body, hh = header_with(lambda h: h["inputs"][0]["parameters"].update(binary_data_size=10 ** 9))
bad("binary_data_size past the body", 400, body, hh, must="binary_data_size")
body, hh = header_with(lambda h: h["inputs"][0]["parameters"].update(binary_data_size=16))
bad("binary_data_size too small for the shape", 400, body, hh, must="bytes")
bad("trailing binary bytes", 400, good + b"xxxx", binh, must="binary data")
bad("Inference-Header-Content-Length past the body", 400, good,
    ["Inference-Header-Content-Length: %d" % (len(good) + 1)], must="Inference-Header")
bad("Inference-Header-Content-Length not a number", 400, good,
    ["Inference-Header-Content-Length: 12abc"], must="Inference-Header")
bad("Inference-Header-Content-Length cuts the JSON", 400, good,
    ["Inference-Header-Content-Length: 10"], must="JSON")
body, hh = header_with(lambda h: h.update(outputs=[{"name": "masks"}]))
bad("unknown output", 400, body, hh, must="masks")
body, hh = header_with(lambda h: h.update(outputs=[{"name": "boxes"}, {"name": "boxes"}]))
bad("output twice", 400, body, hh, must="twice")
sz0 = good[:-16] + (0).to_bytes(8, "little") + (100).to_bytes(8, "little")
bad("a page of width 0", 400, sz0, binh, must="width and height")
bad("a name with invalid UTF-8 is answered in valid UTF-8", 400,
    good.replace(b'"images"', b'"im\xff\xfe\xc3s"', 1), binh, must="unknown input")
bad("JSON data with a string", 400,
    json.dumps({"inputs": [{"name": "orig_target_sizes", "datatype": "INT64", "shape": [1, 2],
                            "data": [1, "x"]}]}).encode(), must="not a number")
bad("JSON data shorter than the shape", 400,
    json.dumps({"inputs": [{"name": "orig_target_sizes", "datatype": "INT64", "shape": [1, 2],
                            "data": [1]}]}).encode(), must="elements")
bad("INT64 data that is not whole", 400,
    json.dumps({"inputs": [{"name": "orig_target_sizes", "datatype": "INT64", "shape": [1, 2],
                            "data": [1.5, 2]}]}).encode(), must="whole")
bad("unknown model", 404, good, binh, url=base + "/v2/models/nope/infer", must="nope")
bad("unknown version", 404, good, binh, url=base + "/v2/models/%s/versions/2/infer" % MODEL_NAME,
    must="version")
bad("unknown route", 404, None, url=base + "/v3/models", must="no route")
bad("unknown model action", 404, None, url=base + "/v2/models/%s/explain" % MODEL_NAME)
bad("GET on infer", 405, None, url=infer, must="POST")
bad("POST on health", 405, b"{}", url=base + "/v2/health/live", must="GET")
hl2, four = binary_body(pages * 2, sizes * 2)
bad("a 19.7 MB body past --max-body-mb 16", 413, four,
    ["Content-Type: application/octet-stream", "Inference-Header-Content-Length: %d" % hl2],
    must="max-body-mb")
body, hh = header_with(lambda h: (h["inputs"][0].update(shape=[3, 3, 640, 640]),
                                  h["inputs"][1].update(shape=[3, 2])))
bad("3 pages past --max-request-pages 2", 413, body, hh, must="max-request-pages")
code, _, out = infer_binary(infer, pages[:1], sizes[:1], headers=[KEYH])
check(code == 200 and out["labels"] == p0[0], "after all that, the server still answers right")
bigmsg = docling_request(pb2, MODEL_NAME, pages * 2, sizes * 2)
c, d = grpc_code(stub.ModelInfer, bigmsg, metadata=good_md)
check(c == grpc.StatusCode.RESOURCE_EXHAUSTED, "gRPC message past --max-body-mb: "
      "RESOURCE_EXHAUSTED (%s)" % d)
check(srv.stop() == 0, "server A: SIGTERM, exit 0")
log = srv.stderr()
lines = [l for l in log.splitlines() if l.startswith("{")]
check(all(json.loads(l) for l in lines) and len(lines) > 40, "access log: %d JSON lines" % len(lines))

# ---- B: a full queue ------------------------------------------------------------------------
srv = Server("--max-queue", "1", "--max-batch", "1", "--max-wait-ms", "0", grpc=True)
infer = srv.url + "/v2/models/%s/infer" % MODEL_NAME
stub = pb2_grpc.GRPCInferenceServiceStub(channel(grpc, srv.grpc_port))
http_codes, grpc_codes, retry_after, wrong = [], [], [], []


def http_client():
    code, hdrs, out = infer_binary(infer, pages[:1], sizes[:1])
    http_codes.append(code)
    if code == 429:
        retry_after.append(hdrs.get("retry-after"))
    elif code != 200 or out["scores"] != p0[2]:
        wrong.append(code)


def grpc_client():
    try:
        out = outputs_of(stub.ModelInfer(docling_request(pb2, MODEL_NAME, pages[:1], sizes[:1]),
                                         timeout=120))
        grpc_codes.append(grpc.StatusCode.OK)
        if out["scores"] != p0[2]:
            wrong.append("grpc")
    except grpc.RpcError as e:
        grpc_codes.append(e.code())


for attempt in range(3):
    ts = [threading.Thread(target=http_client) for _ in range(10)] + \
         [threading.Thread(target=grpc_client) for _ in range(10)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if 429 in http_codes and grpc.StatusCode.RESOURCE_EXHAUSTED in grpc_codes:
        break
print("HTTP codes", sorted(http_codes), "gRPC codes", sorted(str(c) for c in grpc_codes))
check(429 in http_codes and all(r == "1" for r in retry_after), "queue full: 429 + Retry-After: 1")
check(grpc.StatusCode.RESOURCE_EXHAUSTED in grpc_codes, "queue full: gRPC RESOURCE_EXHAUSTED")
check(200 in http_codes and grpc.StatusCode.OK in grpc_codes and not wrong,
      "the requests that were accepted got their right results")
code, _, body = curl(srv.url + "/metrics")
check("doclayout_rejected_total 0" not in body.decode(), "metrics count the rejections")
check(srv.stop() == 0, "server B: SIGTERM, exit 0")

# ---- C: the deadline --------------------------------------------------------------------------
srv = Server("--request-timeout-ms", "1", grpc=True)
infer = srv.url + "/v2/models/%s/infer" % MODEL_NAME
code, _, out = infer_binary(infer, pages, sizes)
check(code == 504 and "deadline" in out.get("error", ""), "past --request-timeout-ms: 504")
stub = pb2_grpc.GRPCInferenceServiceStub(channel(grpc, srv.grpc_port))
c, d = grpc_code(stub.ModelInfer, docling_request(pb2, MODEL_NAME, pages, sizes))
check(c == grpc.StatusCode.DEADLINE_EXCEEDED, "past --request-timeout-ms: DEADLINE_EXCEEDED")
code, _, body = curl(srv.url + "/metrics")
check("doclayout_deadline_exceeded_total 0" not in body.decode(), "metrics count the deadlines")
check(srv.stop() == 0, "server C: SIGTERM, exit 0")
srv = Server(grpc=True)
stub = pb2_grpc.GRPCInferenceServiceStub(channel(grpc, srv.grpc_port))
try:
    stub.ModelInfer(docling_request(pb2, MODEL_NAME, pages, sizes), timeout=0.02)
    c = grpc.StatusCode.OK
except grpc.RpcError as e:
    c = e.code()
check(c == grpc.StatusCode.DEADLINE_EXCEEDED, "a client deadline of 20 ms: DEADLINE_EXCEEDED")
out = outputs_of(stub.ModelInfer(docling_request(pb2, MODEL_NAME, pages[:1], sizes[:1]),
                                 timeout=60))
check(out["labels"] == p0[0], "the next call is answered right")

# ---- E: ports in use are not shared -----------------------------------------------------------
r = subprocess.run([CLI, "serve", "--model", MODEL, "--port", str(srv.http_port)],
                   capture_output=True, timeout=60)
check(r.returncode == 1 and b"cannot listen" in r.stderr, "HTTP port in use: exit 1 (%s)" %
      r.stderr.decode().strip())
r = subprocess.run([CLI, "serve", "--model", MODEL, "--port", "0", "--grpc-port",
                    str(srv.grpc_port)], capture_output=True, timeout=60)
check(r.returncode == 1 and b"cannot listen" in r.stderr, "gRPC port in use: exit 1 (%s)" %
      r.stderr.decode().strip())
check(srv.stop() == 0, "SIGTERM, exit 0")

# ---- D: SIGTERM drains what was accepted ------------------------------------------------------
srv = Server("--max-batch", "8", "--max-wait-ms", "5000", grpc=True)
infer = srv.url + "/v2/models/%s/infer" % MODEL_NAME
stub = pb2_grpc.GRPCInferenceServiceStub(channel(grpc, srv.grpc_port))
got = {}


def http_slow():
    got["http"] = infer_binary(infer, pages, sizes)


def grpc_slow():
    try:
        got["grpc"] = outputs_of(stub.ModelInfer(docling_request(pb2, MODEL_NAME, pages, sizes),
                                                 timeout=60))
    except grpc.RpcError as e:
        got["grpc"] = e.code()


ts = [threading.Thread(target=http_slow), threading.Thread(target=grpc_slow)]
for t in ts:
    t.start()
# SIGTERM once both requests' 4 pages wait in the batcher (--max-wait-ms 5000)
queued = 0
t_end = time.time() + 60
while queued < 4 and time.time() < t_end:
    time.sleep(0.1)
    for line in curl(srv.url + "/metrics", timeout=10)[2].decode().splitlines():
        if line.startswith("doclayout_queue_pages{"):
            queued = int(line.rsplit(" ", 1)[1])
check(queued == 4, "both requests accepted and queued before SIGTERM")
srv.p.send_signal(signal.SIGTERM)
for t in ts:
    t.join()
rc = srv.stop()
code, _, out = got["http"]
check(code == 200 and (out["labels"], out["boxes"], out["scores"]) == tuple(ref),
      "SIGTERM: the HTTP request in flight finished with its results")
g = got["grpc"]
check(isinstance(g, dict) and (g["labels"], g["boxes"], g["scores"]) == tuple(ref),
      "SIGTERM: the gRPC call in flight finished with its results (%s)" %
      (g if not isinstance(g, dict) else "ok"))
check(rc == 0 and b"finishing accepted requests" in srv.out, "SIGTERM: exit status 0 after draining")
check(curl(srv.url + "/v2/health/live", timeout=5)[0] == 0, "after exit nothing listens")

# ---- F: usage errors ----------------------------------------------------------------------------
for args, want in ((["--port", "abc"], 2), (["--bogus"], 2), (["--api-key-env", "DL_NOT_SET_X"], 2),
                   (["--model", "bad name=" + MODEL], 1), (["--model", "/nonexistent/model"], 1),
                   (["--port"], 2), (["--device", "tpu"], 2)):
    r = subprocess.run([CLI, "serve", "--port", "0"] + args, capture_output=True, timeout=60)
    check(r.returncode == want and r.stderr, "serve %s: exit %d (%s)" % (
        " ".join(args), r.returncode, r.stderr.decode().strip()[:100]))
finish("test_serve_limits")
