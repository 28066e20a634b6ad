"""Sources of kind "http" (docling-serve's HttpSource: url, headers) and POST
/v1/convert/source/batch of `doclayout serve`, against a real HTTP server on loopback (Python's
http.server in this process): refused without --allow-url-sources; with it, fetched (request
headers passed on, a redirect followed) and converted as the same bytes uploaded; a 404, a
document over --max-url-bytes, one slower than --url-timeout-s, file:// and ftp:// URLs, a
redirect to ftp://, bad headers: 4xx naming the URL and the reason. The batch route: http
sources, answered with a zip at /v1/result; file/s3 sources, S3 targets, callbacks refused by
name. And a sync conversion queued when SIGTERM comes: 503, not a timeout."""
import http.server
import io
import signal
import threading
import time
import zipfile

from docling_util import convert_file, make_pdf, multipart, request, source_request
from serve_util import Server, check, finish

A = make_pdf(1)
B = make_pdf(2, lines_per_page=5)
BIG = b"%PDF-1.4\n" + b"x" * 40000


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, data=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/a.pdf":
            self.send(200, A)
        elif path == "/docs/b.pdf":
            self.send(200, B)
        elif path == "/big.pdf":
            self.send(200, BIG)
        elif path == "/slow.pdf":
            time.sleep(3)
            self.send(200, A)
        elif path == "/token.pdf":
            ok = self.headers.get("X-Token") == "t0k"
            self.send(200 if ok else 403, A if ok else b"no")
        elif path == "/moved":
            self.send(302, headers=[("Location", "/a.pdf")])
        elif path == "/to-ftp":
            self.send(302, headers=[("Location", "ftp://127.0.0.1/a.pdf")])
        else:
            self.send(404, b"not here")


web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
web.daemon_threads = True
threading.Thread(target=web.serve_forever, daemon=True).start()
W = "http://127.0.0.1:%d" % web.server_address[1]


def http_src(url, **extra):
    d = {"kind": "http", "url": url}
    d.update(extra)
    return d


def unzip(data):
    z = zipfile.ZipFile(io.BytesIO(data))
    return {n: z.read(n).decode() for n in z.namelist()}


# ---- without --allow-url-sources ---------------------------------------------------------------
s = Server()
p = s.http_port
code, j, _ = request(p, "POST", "/v1/convert/source", {"sources": [http_src(W + "/a.pdf")]})
check(code == 400 and "--allow-url-sources" in j["detail"], "refused without the flag (%r)" % j)
code, j, _ = request(p, "POST", "/v1/convert/source/batch", {"sources": [http_src(W + "/a.pdf")]})
check(code == 400 and "--allow-url-sources" in j["detail"], "batch: refused without the flag")
s.stop()

# ---- with it -------------------------------------------------------------------------------------
s = Server("--allow-url-sources", "--max-url-bytes", "20000", "--url-timeout-s", "1")
p = s.http_port
code, ref, _ = convert_file(p, A, "a.pdf", [("to_formats", "md")])
code, j, _ = request(p, "POST", "/v1/convert/source", {"sources": [http_src(W + "/a.pdf")]})
check(code == 200 and j["document"]["filename"] == "a.pdf" and
      j["document"]["md_content"] == ref["document"]["md_content"],
      "an http source: fetched, named by its URL, converted as the upload (%r)" % (code,))
code, j, _ = request(p, "POST", "/v1/convert/source",
                     {"sources": [http_src(W + "/token.pdf", headers={"X-Token": "t0k"})]})
check(code == 200 and j["document"]["md_content"] == ref["document"]["md_content"],
      "its headers are sent with the request")
code, j, _ = request(p, "POST", "/v1/convert/source", {"sources": [http_src(W + "/moved")]})
check(code == 200 and j["document"]["filename"] == "a.pdf", "a redirect is followed")
bad = [
    (http_src(W + "/token.pdf"), 422, ["token.pdf", "HTTP 403"]),
    (http_src(W + "/nothing.pdf"), 422, ["/nothing.pdf", "HTTP 404"]),
    (http_src(W + "/big.pdf"), 422, ["/big.pdf", "--max-url-bytes"]),
    (http_src(W + "/slow.pdf"), 422, ["/slow.pdf", "--url-timeout-s"]),
    (http_src(W + "/to-ftp"), 422, ["/to-ftp", "redirected"]),
    (http_src("file:///etc/passwd"), 400, ["file:///etc/passwd", "only http"]),
    (http_src("ftp://127.0.0.1/a.pdf"), 400, ["ftp://", "only http"]),
    (http_src("http://127.0.0.1:1/a.pdf"), 422, ["127.0.0.1:1", "cannot fetch"]),
    (http_src(W + "/a.pdf", headers={"X-Bad": "a\r\nInjected: 1"}), 400, ["X-Bad", "header"]),
    (http_src(W + "/a.pdf", headers=["X-Token"]), 400, ["headers"]),
    ({"kind": "http"}, 400, ["url"]),
    ({"kind": "http", "url": 7}, 400, ["url"]),
]
for src, want, words in bad:
    t0 = time.time()
    code, j, _ = request(p, "POST", "/v1/convert/source", {"sources": [src]})
    det = j.get("detail", "") if isinstance(j, dict) else ""
    check(code == want and all(w in det for w in words) and time.time() - t0 < 10,
          "%d naming %r: got %d %r" % (want, words, code, det[:160]))

# ---- the batch route --------------------------------------------------------------------------------
code, j, _ = request(p, "POST", "/v1/convert/source/batch",
                     {"sources": [http_src(W + "/a.pdf"), http_src(W + "/docs/b.pdf")],
                      "options": {"to_formats": ["md"]}, "callbacks": []})
check(code == 200 and len(j.get("task_id", "")) == 32 and j["task_type"] == "convert",
      "batch: a task (TaskStatusResponse) (%r)" % (j,))
tid = j.get("task_id", "x")
code, st, _ = request(p, "GET", "/v1/status/poll/%s?wait=60" % tid)
code, data, hdrs = request(p, "GET", "/v1/result/%s" % tid)
m = unzip(data) if code == 200 and hdrs.get("Content-Type") == "application/zip" else {}
check(sorted(m) == ["a.md", "b.md"] and m["a.md"] == ref["document"]["md_content"],
      "batch: its result is the zip, one member per URL (%r)" % sorted(m))
code, j, _ = request(p, "POST", "/v1/convert/source/batch",
                     {"sources": [http_src(W + "/a.pdf")], "target": {"kind": "zip"}})
check(code == 200 and "task_id" in j, "batch with target zip: accepted")
batch_bad = [
    ({"sources": []}, "at least one"),
    ({"options": {}}, "at least one"),
    ({"sources": source_request(A)["sources"]}, "kind \"http\""),
    ({"sources": [{"kind": "s3", "bucket": "b"}]}, "S3 client"),
    ({"sources": [http_src(W + "/a.pdf")], "target": {"kind": "s3", "bucket": "b"}}, "target"),
    ({"sources": [http_src(W + "/a.pdf")], "target": {"kind": "presigned_url"}}, "presigned"),
    ({"sources": [http_src(W + "/a.pdf")], "callbacks": [{"url": "http://x/"}]}, "callbacks"),
    ({"sources": [http_src(W + "/a.pdf")], "file_sources": []}, "file_sources"),
]
for req, word in batch_bad:
    code, j, _ = request(p, "POST", "/v1/convert/source/batch", req)
    det = j.get("detail", "") if isinstance(j, dict) else ""
    check(code == 400 and word in det, "batch 400 naming %r: got %d %r" % (word, code, det[:140]))
code, j, _ = request(p, "GET", "/v1/convert/source/batch")
check(code == 405, "GET on the batch route: 405")
s.stop()

# ---- SIGTERM with a sync conversion waiting in the queue: 503 -----------------------------------
LONG = make_pdf(40, lines_per_page=30)  # still running when SIGTERM comes
s = Server("--drain-timeout-s", "0")
p = s.http_port
body, ctype = multipart([], [("files", "long.pdf", LONG)])
code, j, _ = request(p, "POST", "/v1/convert/file/async", body, ctype)
got = {}


def sync_call():
    got["r"] = convert_file(p, A, "a.pdf")


th = threading.Thread(target=sync_call)
th.start()
end = time.time() + 20  # until the sync request is in (the metrics request is the other one)
while time.time() < end:
    code, m, _ = request(p, "GET", "/metrics")
    if b"doclayout_in_flight_requests 2" in m:
        break
    time.sleep(0.05)
s.p.send_signal(signal.SIGTERM)
th.join(30)
code, j, _ = got.get("r", (0, {}, {}))
check(code == 503 and "shutting down" in j.get("detail", ""),
      "SIGTERM: a queued sync conversion gets 503, not a timeout (%r %r)" % (code, j))
s.stop()
web.shutdown()
finish("test_serve_docling_sources")
