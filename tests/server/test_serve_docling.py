"""The docling-serve v1 document API of `doclayout serve` (docs/server.md), on a real server on
loopback with a real HTTP client: every route, sync and async; outputs equal to `doclayout
detect` on the same document and options; bad input (multipart, base64, options, broken and
encrypted PDFs) answered 4xx naming what is wrong; cancel; a sync deadline that cancels the
work; results that expire by age and by total size; a full queue (429); the API key; and a
kill -9 during a task, after which a restart finishes it. Small documents only (cheap in CI);
the 1,000-page case is in tests/server/slow/."""
import base64
import json
import os
import signal
import time

from docling_util import (convert_file, detect, make_pdf, multipart, request, source_request,
                          wait_status)
from serve_util import MODEL_NAME, TMP, Server, check, finish

PDF = make_pdf(2)
PDF_PATH = os.path.join(TMP, "doc.pdf")
with open(PDF_PATH, "wb") as f:
    f.write(PDF)
LONG = make_pdf(8, lines_per_page=30)  # long enough to be caught mid-run
# past the 300 ms sync deadline even in a quiet Release build (LONG converted in 0.27 s there)
LONGER = make_pdf(40, lines_per_page=30)
ALL = [("to_formats", f) for f in ("md", "json", "text", "doclayout_json")]


def same_json(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# ---- sync conversion, service routes -----------------------------------------------------------
s = Server("--result-max-kb", "25")
p = s.http_port
code, j, _ = request(p, "GET", "/health")
check(code == 200 and j == {"status": "ok"}, "/health: 200 {status: ok}")
code, j, _ = request(p, "GET", "/ready")
check(code == 200 and j["status"] == "ok", "/ready: 200")
code, j, _ = request(p, "GET", "/version")
check(code == 200 and "doclayout" in j, "/version names doclayout's version")
code, page, hdrs = request(p, "GET", "/")
check(code == 200 and b"<html" in page and hdrs["Content-Type"].startswith("text/html"),
      "GET /: the page, embedded in the binary")
code, j, _ = request(p, "GET", "/v1/labels")
check(code == 200 and j["model"] == MODEL_NAME and len(j["labels"]) == 17 and
      len({l["color"] for l in j["labels"]}) == 17, "/v1/labels: 17 labels, 17 colours")

code, j, _ = convert_file(p, PDF, "doc.pdf", ALL + [("do_ocr", "true")])
check(code == 200, "/v1/convert/file: 200 (%r)" % (code,))
d = j.get("document", {}) if code == 200 else {}
check(d.get("filename") == "doc.pdf", "document.filename is the upload's")
check(j.get("status") == "success" and isinstance(j.get("processing_time"), float),
      "status success, processing_time")
check(d.get("md_content") == detect(PDF_PATH, "markdown"),
      "md_content equals `doclayout detect --format markdown`")
check(same_json(d.get("json_content"), json.loads(detect(PDF_PATH, "docling"))),
      "json_content equals `doclayout detect --format docling` (DoclingDocument)")
check(same_json(d.get("doclayout_json_content"), json.loads(detect(PDF_PATH, "json"))),
      "doclayout_json_content equals `doclayout detect --format json`")
text = d.get("text_content") or ""
check("Document page 1 title" in text and "#" not in text, "text_content: the text, no markup")
check(any("do_ocr" in e.get("error_message", "") for e in j.get("errors", [])),
      "do_ocr: true accepted, with a warning in errors")
check(all(k in d for k in ("html_content", "doctags_content")), "every content field present")

# options: page_range, images_scale -> the same as detect --pages --dpi
code, j, _ = request(p, "POST", "/v1/convert/source",
                     source_request(PDF, "doc.pdf", {"to_formats": ["json"], "page_range": [2, 2],
                                                     "images_scale": 2.0}))
check(code == 200 and same_json(j["document"]["json_content"],
                                json.loads(detect(PDF_PATH, "docling", "--pages", "2-2", "--dpi",
                                                  "144"))),
      "/v1/convert/source with page_range [2,2], images_scale 2 equals detect --pages 2 --dpi 144")
check(code == 200 and j["document"]["md_content"] is None, "formats not asked for are null")
code, j, _ = request(p, "POST", "/v1/convert/source",
                     source_request(PDF, "doc.pdf", {"layout_preset": MODEL_NAME,
                                                     "do_table_structure": False}))
check(code == 200 and j["document"]["md_content"] and not j["errors"],
      "layout_preset by the served model's name; md by default; no warning for false")

# bad input
cases = [
    (source_request(PDF, "x.pdf", {"force_ocr": True}), 400, "force_ocr"),
    (source_request(PDF, "x.pdf", {"to_formats": ["html"]}), 400, "html"),
    (source_request(PDF, "x.pdf", {"frobnicate": 1}), 400, "frobnicate"),
    (source_request(PDF, "x.pdf", {"layout_preset": "nope"}), 400, "nope"),
    (source_request(PDF, "x.pdf", {"page_range": [3, 1]}), 400, "page_range"),
    (source_request(PDF, "x.pdf", {"abort_on_error": "yes"}), 400, "abort_on_error"),
    ({"sources": [{"kind": "file", "base64_string": "JVBE*RiAx", "filename": "x.pdf"}]}, 400,
     "base64"),
    ({"sources": [{"kind": "file", "base64_string": "JVBER", "filename": "x.pdf"}]}, 400,
     "base64"),
    ({"sources": [{"kind": "http", "url": "http://example.com/a.pdf"}]}, 400,
     "--allow-url-sources"),
    ({"sources": [{"kind": "ftp"}]}, 400, "ftp"),
    ({"sources": []}, 400, "no document"),
    ({"sources": [{"kind": "file", "filename": "x.pdf"}]}, 400, "base64_string"),
    ({"sources": [{"kind": "file", "base64_string": "", "filename": "x.pdf"}]}, 400, "empty"),
    ({"bogus": 1}, 400, "bogus"),
    (source_request(b"%PDF-1.4\ngarbage", "broken.pdf"), 422, "broken.pdf"),
    (source_request(make_pdf(1, encrypted=True), "locked.pdf"), 422, "encrypted"),
]
for req, want, word in cases:
    code, j, _ = request(p, "POST", "/v1/convert/source", req)
    det = j.get("detail", "") if isinstance(j, dict) else ""
    check(code == want and word in det, "%d naming %r: got %d %r" % (want, word, code, det[:120]))
check("/tmp" not in det and "sync/" not in det, "messages name the upload, not server paths")
code, j, _ = request(p, "POST", "/v1/convert/source",
                     source_request(make_pdf(1, encrypted=True), "locked.pdf"))
check(code == 422 and "cannot open it" in j["detail"] and "--password" not in j["detail"],
      "an encrypted PDF: the API says it cannot open it, no CLI flag (%r)" % (j,))
code, j, _ = request(p, "POST", "/v1/convert/source", b"{not json", "application/json")
check(code == 400 and "JSON" in j["detail"], "a body that is not JSON: 400")

body, ctype = multipart([], [("files", "doc.pdf", PDF)])
code, j, _ = request(p, "POST", "/v1/convert/file", body[:-40], ctype)
check(code == 400 and "multipart" in j["detail"], "truncated multipart: 400 (%r)" % (j,))
code, j, _ = request(p, "POST", "/v1/convert/file", body, "text/plain")
check(code == 400 and "multipart/form-data" in j["detail"], "not multipart: 400")
body2, ctype2 = multipart([("to_formats", "md")], [])
code, j, _ = request(p, "POST", "/v1/convert/file", body2, ctype2)
check(code == 400 and "files" in j["detail"], "no 'files' part: 400")
body3, ctype3 = multipart([], [("files", "a.pdf", PDF), ("files", "b.pdf", PDF)])
code, j, _ = request(p, "POST", "/v1/convert/file", body3, ctype3)
check(code == 200 and isinstance(j, bytes) and j[:2] == b"PK",
      "two files: a zip (test_serve_docling_zip checks it)")
code, j, _ = convert_file(p, PDF, "../../etc/passwd")
check(code == 200 and j["document"]["filename"] == "passwd", "a path as file name: its base")
code, j, _ = request(p, "GET", "/v1/convert/file")
check(code == 405, "GET on a POST route: 405")
code, j, _ = request(p, "GET", "/v1/nothing")
check(code == 404 and "detail" in j, "unknown /v1 route: 404")

# ---- async ---------------------------------------------------------------------------------------
code, j, _ = request(p, "POST", "/v1/convert/source/async",
                     source_request(PDF, "doc.pdf", {"to_formats": ["json"]}))
check(code == 200 and len(j.get("task_id", "")) == 32 and j["task_type"] == "convert" and
      j["task_status"] in ("pending", "started") and "task_meta" in j, "async: a task (%r)" % (j,))
tid = j.get("task_id", "x")
code, j, _ = request(p, "GET", "/v1/status/poll/%s?wait=30" % tid)
check(code == 200 and j["task_status"] == "success" and j["task_meta"]["num_succeeded"] == 1,
      "poll ?wait=30: success (%r)" % (j,))
code, j, _ = request(p, "GET", "/v1/result/%s" % tid)
check(code == 200 and same_json(j["document"]["json_content"],
                                json.loads(detect(PDF_PATH, "docling"))),
      "/v1/result: the DoclingDocument, as detect")
# results by total size (--result-max-kb 25): room for two, the oldest goes first
ids = [tid]
for i in range(2):
    code, j, _ = request(p, "POST", "/v1/convert/source/async",
                         source_request(PDF, "d%d.pdf" % i, {"to_formats": ["json"]}))
    ids.append(j["task_id"])
    request(p, "GET", "/v1/status/poll/%s?wait=30" % j["task_id"])
size = len(json.dumps(request(p, "GET", "/v1/result/%s" % ids[2])[1]))
for _ in range(40):
    got = [request(p, "GET", "/v1/result/%s" % t)[0] for t in ids]
    if got[0] == 404:
        break
    time.sleep(0.05)
check(got == [404, 200, 200] and 2 * size <= 25 * 1024 < 3 * size,
      "past --result-max-kb the oldest result goes first (%r, %d bytes each)" % (got, size))
code, j, _ = request(p, "GET", "/v1/status/poll/0123456789abcdef0123456789abcdef")
check(code == 404, "unknown task: 404")
code, j, _ = request(p, "GET", "/v1/status/poll/%s?wait=abc" % tid)
check(code == 400 and "wait" in j["detail"], "wait=abc: 400")
code, j, _ = request(p, "DELETE", "/v1/tasks/%s" % ids[2])
check(code == 409, "cancel a finished task: 409")

body, ctype = multipart([("to_formats", "md")], [("files", "long.pdf", LONG)])
code, j, _ = request(p, "POST", "/v1/convert/file/async", body, ctype)
tid = j["task_id"]
st = wait_status(p, tid, ("started", "success"))
code, j, _ = request(p, "DELETE", "/v1/tasks/%s" % tid)
check(code == 200 and j["task_state"] == "cancelled" and j["task_status"] == "failure",
      "DELETE /v1/tasks/ID cancels a running task (%r, %r)" % (code, j))
code, j, _ = request(p, "GET", "/v1/result/%s" % tid)
check(code == 404 and "cancelled" in j["detail"], "a cancelled task has no result")
t0 = time.time()
code, j, _ = convert_file(p, PDF)
check(code == 200 and time.time() - t0 < 30, "the worker is free after the cancel")
code, metrics, _ = request(p, "GET", "/metrics")
check(code == 200 and b'transport="http"' in metrics, "/metrics counts these requests")
s.stop()

# ---- limits: sync deadline, 429, expiry, API key ---------------------------------------------
s = Server("--convert-timeout-ms", "300", "--max-tasks", "1", "--result-ttl-s", "1",
           "--api-key", "k3y", "--convert-workers", "1")
p = s.http_port
K = {"X-Api-Key": "k3y"}
code, j, _ = request(p, "GET", "/health")
check(code == 200, "/health needs no API key")
code, j, _ = convert_file(p, PDF)
check(code == 401 and "X-Api-Key" in j.get("detail", ""),
      "/v1/convert/file without the API key: 401, docling-serve's {detail} naming X-Api-Key")
code, j, _ = request(p, "GET", "/v1/status/poll/0123456789abcdef0123456789abcdef",
                     headers={"X-Api-Key": "wrong"})
check(code == 401 and "detail" in j, "a wrong key on a task route: 401 {detail}")
for route in ("/ready", "/"):
    check(request(p, "GET", route)[0] == 200, "%s needs no API key (as docling-serve's /health)"
          % route)
t0 = time.time()
code, j, _ = convert_file(p, LONGER, "long.pdf", headers=K)
check(code == 504 and "cancelled" in j["detail"] and "--convert-timeout-ms" in j["detail"],
      "sync past its deadline: 504, work cancelled (%r)" % (j,))
# the work was cancelled: a second long task does not queue behind it
body, ctype = multipart([], [("files", "long.pdf", LONGER)])
code, a, _ = request(p, "POST", "/v1/convert/file/async", body, ctype, K)
check(code == 200, "async accepted after a sync timeout")
# a running (the one worker is past the cancelled sync conversion, which a fresh-clone run
# showed can still hold it when the next request comes), b waiting: the queue is full
wait_status(p, a.get("task_id", ""), ("started",), headers=K)
code, b, _ = request(p, "POST", "/v1/convert/file/async", body, ctype, K)
code2, c, h = request(p, "POST", "/v1/convert/file/async", body, ctype, K)
check(code2 == 429 and h.get("Retry-After") and "queue" in c["detail"],
      "a full queue: 429 + Retry-After (%r %r)" % (code2, c))
for t in (a, b):
    if isinstance(t, dict) and "task_id" in t:
        request(p, "DELETE", "/v1/tasks/%s" % t["task_id"], headers=K)
code, j, _ = request(p, "POST", "/v1/convert/source/async", source_request(PDF), headers=K)
tid = j["task_id"]
code, j, _ = request(p, "GET", "/v1/status/poll/%s?wait=30" % tid, headers=K)
check(j["task_status"] == "success", "small async task done")
code, j, _ = request(p, "GET", "/v1/result/%s" % tid, headers=K)
check(code == 200, "its result is there")
time.sleep(2.2)
code, j, _ = request(p, "GET", "/v1/result/%s" % tid, headers=K)
check(code == 404, "after --result-ttl-s the result is gone: 404")
s.stop()

# ---- kill -9 during a task; the restart finishes it -------------------------------------------
state = os.path.join(TMP, "state-crash")
s = Server("--state-dir", state)
p = s.http_port
code, j, _ = request(p, "POST", "/v1/convert/source/async", source_request(PDF, "small.pdf"))
done_id = j["task_id"]
request(p, "GET", "/v1/status/poll/%s?wait=30" % done_id)
long_path = os.path.join(TMP, "long.pdf")
with open(long_path, "wb") as f:
    f.write(LONG)
code, j, _ = request(p, "POST", "/v1/convert/source/async",
                     source_request(LONG, "long.pdf", {"to_formats": ["json"]}))
tid = j["task_id"]
end = time.time() + 60
while time.time() < end:
    st = request(p, "GET", "/v1/status/poll/%s" % tid)[1]
    if st["task_status"] != "pending" and st["task_meta"]["num_pages_done"] >= 1:
        break
    time.sleep(0.02)
mid = st["task_status"] == "started"
s.p.send_signal(signal.SIGKILL)
s.stop()
rec = json.load(open(os.path.join(state, "tasks", tid, "task.json")))
check(mid and rec["state"] == "running", "killed mid-run: the record says running (%r)" % (st,))
s = Server("--state-dir", state)
p = s.http_port
check(b"queued again" in s.out, "the restart queues the interrupted task again")
code, j, _ = request(p, "GET", "/v1/status/poll/%s?wait=60" % tid)
check(code == 200 and j["task_status"] == "success", "after kill -9 and a restart: success")
code, j, _ = request(p, "GET", "/v1/result/%s" % tid)
check(code == 200 and same_json(j["document"]["json_content"],
                                json.loads(detect(long_path, "docling"))),
      "its result equals detect's")
code, j, _ = request(p, "GET", "/v1/result/%s" % done_id)
check(code == 200 and j["document"]["filename"] == "small.pdf",
      "a result finished before the crash is still there")
rec = json.load(open(os.path.join(state, "tasks", tid, "task.json")))
check(rec["state"] == "done", "the record says done")
s.stop()

finish("test_serve_docling")
