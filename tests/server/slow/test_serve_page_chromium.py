"""The page at GET / in a real browser (slow tier: needs Debian's chromium, not in CI's default
suite; run with -DDL_SLOW_TESTS=ON and `ctest -L slow`). Headless Chromium opens the page with
?src= pointing at a fixture PDF served from another loopback port; the page uploads it to
/v1/convert/file/async, polls the task, draws each page's boxes in the colours of /v1/labels.
Checks: the DOM ends in state "done" with as many boxes as the detections of `doclayout detect`
on the same PDF, coloured as /v1/labels says; a screenshot is written (docs/server-page.png
when DL_PAGE_SCREENSHOT names it)."""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from docling_util import detect, make_pdf, request  # noqa: E402
from serve_util import TMP, Server, check, finish  # noqa: E402

browser = shutil.which("chromium") or shutil.which("chromium-browser")
if not browser:
    print("skipped: no chromium (scripts/install-deps.sh --browser)")
    sys.exit(1 if os.environ.get("CI") == "true" else 77)

pdf_path = os.path.join(TMP, "page-test.pdf")
with open(pdf_path, "wb") as f:
    f.write(make_pdf(2))


class Files(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=TMP, **k)

    def end_headers(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def log_message(self, *a):
        pass


files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
threading.Thread(target=files.serve_forever, daemon=True).start()
src = "http://127.0.0.1:%d/page-test.pdf" % files.server_address[1]

s = Server()
code, page, hdrs = request(s.http_port, "GET", "/")
check(code == 200 and b"<html" in page and "text/html" in hdrs.get("Content-Type", ""),
      "GET / serves the page")
code, labels, _ = request(s.http_port, "GET", "/v1/labels")
check(code == 200 and labels["labels"] and all(re.match(r"^#[0-9a-f]{6}$", l["color"])
                                               for l in labels["labels"]),
      "/v1/labels: names and colours from the server")
check(not any(l["name"].encode() in page for l in labels["labels"] if len(l["name"]) > 5),
      "the page has no label table of its own (no label name in its source)")

url = "%s/?src=%s" % (s.url, src)
profile = os.path.join(TMP, "chromium-profile")
base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--user-data-dir=" + profile, "--virtual-time-budget=60000", "--window-size=1000,1400"]
dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, timeout=300).stdout.decode()
want = sum(len(p["detections"]) for p in json.loads(detect(pdf_path, "json"))["pages"])
m = re.search(r'<body[^>]*data-state="(\w+)"', dom)
n = re.search(r'<body[^>]*data-boxes="(\d+)"', dom)
check(m and m.group(1) == "done", "the page converted the PDF (state %r)" % (m and m.group(1)))
check(n and int(n.group(1)) == want and dom.count('class="box"') == want,
      "as many boxes drawn as detect finds (%s, want %d)" % (n and n.group(1), want))
colors = {l["name"]: l["color"] for l in labels["labels"]}
drawn = []
for tag in re.findall(r'<div class="box"[^>]*>', dom, flags=re.S):
    c = re.search(r"border-color: rgb\((\d+), (\d+), (\d+)\)", tag)
    lab = re.search(r'data-label="([^"]+)"', tag)
    if c and lab:
        drawn.append((c.group(1), c.group(2), c.group(3), lab.group(1)))
check(len(drawn) == want and all("#%02x%02x%02x" % (int(r), int(g), int(b)) == colors[lab]
                    for r, g, b, lab in drawn),
      "each box in its label's colour from /v1/labels (%d checked)" % len(drawn))
shot = os.environ.get("DL_PAGE_SCREENSHOT") or os.path.join(TMP, "page.png")
subprocess.run(base + ["--screenshot=" + shot, url], capture_output=True, timeout=300)
check(os.path.exists(shot) and os.path.getsize(shot) > 10000, "screenshot written: %s" % shot)
s.stop()
files.shutdown()
finish("test_serve_page_chromium")
