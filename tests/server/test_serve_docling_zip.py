"""Several documents in one request of `doclayout serve`'s document API answer with a zip, as
docling-serve does (converted_docs.zip: STEM.json, STEM.md, STEM.txt per converted document,
here also STEM.doclayout.json; failed documents left out): a real multipart request and a JSON
one, sync and async, each member equal to the single-document answer for that file; target
zip for one document; a failed document among good ones; all failed; abort_on_error; bad
target values. Small documents only (cheap in CI)."""
import io
import json
import os
import zipfile

from docling_util import convert_file, make_pdf, multipart, request, source_request
from serve_util import TMP, Server, check, finish

A = make_pdf(1)
B = make_pdf(2, lines_per_page=5)
BROKEN = b"%PDF-1.4\ngarbage"
ALL = [("to_formats", f) for f in ("md", "json", "text", "doclayout_json")]
ALL_J = {"to_formats": ["md", "json", "text", "doclayout_json"]}


def same_json(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def unzip(data):
    z = zipfile.ZipFile(io.BytesIO(data))
    check(z.testzip() is None, "the zip's CRCs are right")
    return {n: z.read(n) for n in z.namelist()}


def matches(members, stem, single):
    """The zip's members for `stem` equal the single-document answer `single`."""
    d = single["document"]
    return (members.get(stem + ".md", b"").decode() == d["md_content"] and
            members.get(stem + ".txt", b"").decode() == d["text_content"] and
            same_json(json.loads(members.get(stem + ".json", b"null")), d["json_content"]) and
            same_json(json.loads(members.get(stem + ".doclayout.json", b"null")),
                      d["doclayout_json_content"]))


s = Server()
p = s.http_port
singles = {}
for name, pdf in (("a.pdf", A), ("b.pdf", B)):
    code, j, _ = convert_file(p, pdf, name, ALL)
    check(code == 200, "single %s: 200" % name)
    singles[name] = j

# multipart, several files: a zip
body, ctype = multipart(ALL, [("files", "a.pdf", A), ("files", "b.pdf", B)])
code, data, hdrs = request(p, "POST", "/v1/convert/file", body, ctype)
check(code == 200 and hdrs.get("Content-Type") == "application/zip",
      "two files: 200 application/zip (%r %r)" % (code, hdrs.get("Content-Type")))
check(hdrs.get("Content-Disposition") == 'attachment; filename="converted_docs.zip"',
      "Content-Disposition: attachment; filename=\"converted_docs.zip\"")
m = unzip(data) if code == 200 else {}
check(sorted(m) == sorted("%s.%s" % (s_, e) for s_ in "ab"
                          for e in ("json", "md", "txt", "doclayout.json")),
      "members STEM.json/.md/.txt/.doclayout.json per document (%r)" % sorted(m))
check(matches(m, "a", singles["a.pdf"]) and matches(m, "b", singles["b.pdf"]),
      "each member equals the single-file answer")

# JSON sources, md only, async: the zip from /v1/result
req = {"sources": [source_request(A, "a.pdf")["sources"][0],
                   source_request(B, "b.pdf")["sources"][0]], "options": {"to_formats": ["md"]}}
code, j, _ = request(p, "POST", "/v1/convert/source/async", req)
tid = j.get("task_id", "x")
code, st, _ = request(p, "GET", "/v1/status/poll/%s?wait=60" % tid)
check(st.get("task_status") == "success" and st["task_meta"]["num_docs"] == 2 and
      st["task_meta"]["num_succeeded"] == 2, "async two sources: success, 2 of 2 (%r)" % (st,))
code, data, hdrs = request(p, "GET", "/v1/result/%s" % tid)
m = unzip(data) if code == 200 and hdrs.get("Content-Type") == "application/zip" else {}
check(sorted(m) == ["a.md", "b.md"] and m["b.md"].decode() == singles["b.pdf"]["document"][
    "md_content"], "/v1/result of an async two-source task: the zip, md only (%r)" % sorted(m))

# one document with target zip (JSON) and target_type=zip (multipart)
req = source_request(A, "a.pdf", ALL_J)
req["target"] = {"kind": "zip"}
code, data, hdrs = request(p, "POST", "/v1/convert/source", req)
m = unzip(data) if code == 200 and hdrs.get("Content-Type") == "application/zip" else {}
check(matches(m, "a", singles["a.pdf"]), "target zip, one source: a zip (%r)" % sorted(m))
code, data, hdrs = convert_file(p, A, "a.pdf", [("target_type", "zip"), ("to_formats", "md")])
check(code == 200 and hdrs.get("Content-Type") == "application/zip" and
      sorted(unzip(data)) == ["a.md"], "multipart target_type=zip, one file: a zip")

# the same stem twice: the second gets _2 (docling-serve would overwrite the first)
body, ctype = multipart([("to_formats", "md")], [("files", "a.pdf", A), ("files", "a.pdf", B)])
code, data, hdrs = request(p, "POST", "/v1/convert/file", body, ctype)
check(code == 200 and sorted(unzip(data)) == ["a.md", "a_2.md"], "the same stem twice: a, a_2")

# a broken document among good ones: left out, named in the status; all broken: 422
body, ctype = multipart([("to_formats", "md")], [("files", "a.pdf", A),
                                                 ("files", "broken.pdf", BROKEN)])
code, data, hdrs = request(p, "POST", "/v1/convert/file", body, ctype)
check(code == 200 and sorted(unzip(data)) == ["a.md"], "a broken file is left out of the zip")
code, j, _ = request(p, "POST", "/v1/convert/file/async", body, ctype)
code, st, _ = request(p, "GET", "/v1/status/poll/%s?wait=60" % j["task_id"])
check(st["task_status"] == "success" and st["task_meta"]["num_failed"] == 1 and
      "broken.pdf" in st.get("task_detail", ""), "its status names the broken file (%r)" % (st,))
body, ctype = multipart([], [("files", "x.pdf", BROKEN), ("files", "y.pdf", BROKEN)])
code, j, _ = request(p, "POST", "/v1/convert/file", body, ctype)
check(code == 422 and "No documents were exported" in j["detail"] and "y.pdf" in j["detail"],
      "all broken: 422 naming them (%r)" % (j,))
code, j, _ = request(p, "POST", "/v1/convert/file/async", body, ctype)
tid = j["task_id"]
code, st, _ = request(p, "GET", "/v1/status/poll/%s?wait=60" % tid)
code, j, _ = request(p, "GET", "/v1/result/%s" % tid)
check(st["task_status"] == "failure" and code == 422 and "x.pdf" in j["detail"],
      "all broken, async: failure, /v1/result 422 naming them (%r %r)" % (code, j))
# abort_on_error: the first failure stops the task
body, ctype = multipart([("abort_on_error", "true")],
                        [("files", "broken.pdf", BROKEN), ("files", "a.pdf", A)])
code, j, _ = request(p, "POST", "/v1/convert/file", body, ctype)
check(code == 422 and "abort_on_error" in j["detail"] and "broken.pdf" in j["detail"],
      "abort_on_error: 422 at the first failed document (%r)" % (j,))

# bad targets
code, j, _ = convert_file(p, A, "a.pdf", [("target_type", "s3")])
check(code == 400 and "target_type" in j["detail"], "target_type s3: 400 (%r)" % (j,))
req = source_request(A)
req["target"] = {"kind": "put", "url": "http://x/"}
code, j, _ = request(p, "POST", "/v1/convert/source", req)
check(code == 400 and "target" in j["detail"], "target put: 400")
req["target"] = "zip"
code, j, _ = request(p, "POST", "/v1/convert/source", req)
check(code == 400 and "target" in j["detail"], "target not an object: 400")
s.stop()

# a finished zip task is still a zip after a restart on the same --state-dir
state = os.path.join(TMP, "state-zip")
s = Server("--state-dir", state)
p = s.http_port
body, ctype = multipart([("to_formats", "md")], [("files", "a.pdf", A), ("files", "b.pdf", B)])
code, j, _ = request(p, "POST", "/v1/convert/file/async", body, ctype)
tid = j["task_id"]
request(p, "GET", "/v1/status/poll/%s?wait=60" % tid)
s.stop()
check(os.path.exists(os.path.join(state, "tasks", tid, "result.zip")),
      "the zip is kept in the state directory (tasks/ID/result.zip)")
s = Server("--state-dir", state)
p = s.http_port
code, data, hdrs = request(p, "GET", "/v1/result/%s" % tid)
check(code == 200 and hdrs.get("Content-Type") == "application/zip" and
      sorted(unzip(data)) == ["a.md", "b.md"], "after a restart /v1/result is still the zip")
s.stop()
finish("test_serve_docling_zip")
