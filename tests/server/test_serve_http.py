"""doclayout serve over HTTP, with curl: what Docling's KServe v2 HTTP client sends (binary
tensors) and JSON, checked bit for bit against `doclayout infer` + the unclamped top-K
post-processing on the same pixels and model (CPU)."""
import json
import struct

from serve_util import (K, MODEL_NAME, Server, check, curl, finish, infer_binary, make_pages,
                        ref_page, reference, join_pages)

pages = make_pages(2, seed=1)
sizes = [(800, 600), (612, 792)]  # two pages of different original sizes, (width, height)
ref = reference(pages, sizes)
labels, boxes, scores = ref
check(len(labels) == 2 * K * 8 and len(boxes) == 2 * K * 16, "reference has N*K entries")

srv = Server("--max-batch", "4")
base = srv.url

# health, server and model metadata
code, _, body = curl(base + "/v2/health/live")
check(code == 200 and json.loads(body) == {"live": True}, "GET /v2/health/live")
code, _, body = curl(base + "/v2/health/ready")
check(code == 200 and json.loads(body) == {"ready": True}, "GET /v2/health/ready")
code, _, body = curl(base + "/v2")
check(code == 200 and json.loads(body)["name"] == "doclayout", "GET /v2 server metadata")
for path in ("/v2/models/" + MODEL_NAME, "/v2/models/%s/versions/1" % MODEL_NAME):
    code, _, body = curl(base + path)
    meta = json.loads(body)
    check(code == 200 and meta["name"] == MODEL_NAME and
          [t["name"] for t in meta["inputs"]] == ["images", "orig_target_sizes"] and
          [t["datatype"] for t in meta["inputs"]] == ["FP32", "INT64"] and
          meta["inputs"][0]["shape"] == [-1, 3, 640, 640] and
          [t["name"] for t in meta["outputs"]] == ["labels", "boxes", "scores"] and
          [t["datatype"] for t in meta["outputs"]] == ["INT64", "FP32", "FP32"] and
          meta["outputs"][1]["shape"] == [-1, K, 4], "GET %s: 2 inputs, 3 outputs in order" % path)
code, _, body = curl(base + "/v2/models/%s/ready" % MODEL_NAME)
check(code == 200 and json.loads(body)["ready"] is True, "GET model ready")
code, _, body = curl(base + "/v2/models/%s/versions/1/ready" % MODEL_NAME)
check(code == 200, "GET versioned model ready")

# Docling's binary request: two pages of different sizes in one request
infer = base + "/v2/models/%s/infer" % MODEL_NAME
code, hdrs, out = infer_binary(infer, pages, sizes)
check(code == 200, "binary infer: 200")
check(hdrs.get("content-type") == "application/octet-stream", "binary reply content type")
hdr = out["_header"]
check([o["name"] for o in hdr["outputs"]] == ["labels", "boxes", "scores"] and
      [o["shape"] for o in hdr["outputs"]] == [[2, K], [2, K, 4], [2, K]] and
      [o["datatype"] for o in hdr["outputs"]] == ["INT64", "FP32", "FP32"],
      "binary reply: names, shapes [N,K] [N,K,4] [N,K], datatypes")
check(out["labels"] == labels, "binary labels equal the reference bit for bit")
check(out["boxes"] == boxes, "binary boxes equal the reference bit for bit (unclamped)")
check(out["scores"] == scores, "binary scores equal the reference bit for bit")
bx = struct.unpack("<%df" % (2 * K * 4), boxes)
outside = sum(1 for i, v in enumerate(bx)
              if v < 0 or v > (sizes[i // (K * 4)][0] if i % 2 == 0 else sizes[i // (K * 4)][1]))
print("note: %d box coordinates of the reference lie outside their page (unclamped)" % outside)
sc = struct.unpack("<%df" % (2 * K), scores)
check(all(sc[p * K + i] >= sc[p * K + i + 1] for p in range(2) for i in range(K - 1)),
      "scores sorted within each page")

# the versioned route, and a subset of the outputs in the order asked
code, _, out = infer_binary(base + "/v2/models/%s/versions/1/infer" % MODEL_NAME, pages[1:],
                            sizes[1:], outputs=("scores", "labels"))
p1 = ref_page(ref, 1)
check(code == 200 and [o["name"] for o in out["_header"]["outputs"]] == ["scores", "labels"] and
      out["scores"] == p1[2] and out["labels"] == p1[0],
      "versioned infer, outputs [scores, labels] in that order, page 2 alone equals its reference")

# binary inputs, JSON outputs (binary_data false)
code, hdrs, out = infer_binary(infer, pages, sizes, binary_out=False)
check(code == 200 and hdrs.get("content-type") == "application/json" and
      out["labels"] == labels and out["boxes"] == boxes and out["scores"] == scores,
      "binary inputs with JSON outputs equal the reference")

# all JSON: one page as a flat "data" list, one as nested lists
p0 = ref_page(ref, 0)
vals = list(struct.unpack("<%df" % (3 * 640 * 640), pages[0]))
req = {"inputs": [
    {"name": "images", "shape": [1, 3, 640, 640], "datatype": "FP32", "data": vals},
    {"name": "orig_target_sizes", "shape": [1, 2], "datatype": "INT64",
     "data": [[sizes[0][0], sizes[0][1]]]}]}
code, hdrs, body = curl(infer, json.dumps(req).encode(), ["Content-Type: application/json"])
ok = code == 200
if ok:
    res = json.loads(body)
    got = {o["name"]: o for o in res["outputs"]}
    ok = (struct.pack("<%dq" % K, *got["labels"]["data"]) == p0[0] and
          struct.pack("<%df" % (K * 4), *got["boxes"]["data"]) == p0[1] and
          struct.pack("<%df" % K, *got["scores"]["data"]) == p0[2] and
          got["boxes"]["shape"] == [1, K, 4] and res["model_name"] == MODEL_NAME)
check(ok, "JSON request and JSON reply equal the reference bit for bit")

# the same page sent twice in one request: each copy gets its own (equal) results
code, _, out = infer_binary(infer, [pages[0], pages[0]], [sizes[0], sizes[0]])
check(code == 200 and (out["labels"], out["boxes"], out["scores"]) == join_pages([p0, p0]),
      "the same page twice in one request")

code, _, body = curl(base + "/metrics")
text = body.decode()
check(code == 200 and "doclayout_pages_total" in text and "doclayout_batch_pages_bucket" in text
      and "doclayout_request_duration_seconds_bucket" in text and "doclayout_queue_pages" in text
      and 'device="cpu"' in text, "GET /metrics in the Prometheus text format")

log = srv.stderr().splitlines()
entries = [json.loads(l) for l in log if l.startswith("{")]
check(any(e.get("path", "").endswith("/infer") and e["status"] == 200 and e["pages"] == 2
          for e in entries), "access log: one JSON line per request with status and pages")
# doclayout doctor URL: the server's reachability and readiness
import subprocess  # noqa: E402
from serve_util import CLI, free_port  # noqa: E402
r = subprocess.run([CLI, "doctor", "--no-selftest", "--json", base], capture_output=True)
rep = json.loads(r.stdout) if r.returncode == 0 else {}
check(r.returncode == 0 and rep["server"]["reachable"] and rep["server"]["ready"] and
      rep["server"]["name"] == "doclayout", "doctor URL: reachable, live, ready")
dead = "http://127.0.0.1:%d" % free_port()
r = subprocess.run([CLI, "doctor", "--no-selftest", dead], capture_output=True, text=True)
check(r.returncode == 1 and "cannot connect" in r.stdout and "fix:" in r.stdout,
      "doctor URL of nothing: not healthy, with the reason and a fix")
rc = srv.stop()
check(rc == 0, "SIGTERM: exit status 0")
finish("test_serve_http")
