"""Helpers of the document API tests (docling-serve v1 routes of `doclayout serve`): PDFs
with a text layer made here, multipart bodies built by hand (so that broken ones can be sent
too), JSON over http.client on loopback, and `doclayout detect` as the reference."""
import base64
import http.client
import json
import os
import subprocess
import time

from serve_util import CLI, MODEL, TMP  # noqa: F401


import sys, zlib
def make_pdf(pages, lines_per_page=12, encrypted=False):
    objs = []
    def add(b): objs.append(b); return len(objs)
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    pages_id = len(objs) + 1 + 2 * pages  # placeholder computed below
    kids = []
    page_ids = []
    for p in range(pages):
        text = "BT /F1 18 Tf 72 740 Td (Document page %d title) Tj ET\n" % (p + 1)
        y = 700
        for l in range(lines_per_page):
            text += "BT /F1 10 Tf 72 %d Td (Line %d of page %d: some words to read here.) Tj ET\n" % (y, l + 1, p + 1)
            y -= 14
        data = text.encode()
        c = add(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
        page_ids.append(add(None))
        kids.append((page_ids[-1], c))
    pages_id = add(None)
    for pid, c in kids:
        objs[pid - 1] = b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R /Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, c, font)
    objs[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k, _ in kids), pages)
    cat = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    extra = b""
    if encrypted:  # a standard security handler the empty password does not open
        enc = add(b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -4 >>" % (b"11" * 32, b"22" * 32))
        extra = b" /Encrypt %d 0 R /ID [<%s> <%s>]" % (enc, b"ab" * 16, b"ab" * 16)
    out = b"%PDF-1.4\n"
    offs = []
    for i, o in enumerate(objs):
        offs.append(len(out))
        out += b"%d 0 obj\n" % (i + 1) + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for o in offs:
        out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, cat, extra, xref)
    return out


def multipart(fields, files, boundary="dlBoundary7MA4YWxk"):
    """fields: [(name, value)], files: [(name, filename, bytes)] -> (body, content type)."""
    out = b""
    for k, v in fields:
        out += b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (
            boundary.encode(), k.encode(), str(v).encode())
    for k, fn, data in files:
        out += (b"--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                b"Content-Type: application/pdf\r\n\r\n" % (boundary.encode(), k.encode(),
                                                               fn.encode()))
        out += data + b"\r\n"
    out += b"--%s--\r\n" % boundary.encode()
    return out, "multipart/form-data; boundary=" + boundary


def request(port, method, path, body=None, ctype=None, headers=None, timeout=120):
    """(status, parsed JSON or raw bytes, headers)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    if ctype:
        h["Content-Type"] = ctype
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    hdrs = dict(r.getheaders())
    c.close()
    try:
        return r.status, json.loads(data), hdrs
    except ValueError:
        return r.status, data, hdrs


def convert_file(port, pdf, filename="doc.pdf", fields=(), path="/v1/convert/file", headers=None):
    body, ctype = multipart(list(fields), [("files", filename, pdf)])
    return request(port, "POST", path, body, ctype, headers)


def source_request(pdf, filename="doc.pdf", options=None):
    req = {"sources": [{"kind": "file", "base64_string": base64.b64encode(pdf).decode(),
                        "filename": filename}]}
    if options is not None:
        req["options"] = options
    return req


def detect(path, fmt, *extra):
    """`doclayout detect` on the same file: the reference output (text). Run in the file's
    directory, so that results name it as the server names an upload: by its file name."""
    r = subprocess.run([CLI, "detect", "--model", MODEL, "--threads", "2", "--format", fmt,
                        os.path.basename(path)] + list(extra), capture_output=True,
                       cwd=os.path.dirname(path) or ".")
    if r.returncode != 0:
        raise RuntimeError("detect failed: %r" % r.stderr)
    return r.stdout.decode()


def wait_status(port, task_id, want, timeout=60, headers=None):
    """Poll until task_status is one of `want`; the last status JSON."""
    end = time.time() + timeout
    st = None
    while time.time() < end:
        code, st, _ = request(port, "GET", "/v1/status/poll/%s" % task_id, headers=headers)
        if code == 200 and st["task_status"] in want:
            return st
        time.sleep(0.02)
    return st
