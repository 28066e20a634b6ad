"""kill -9 while a 1,000-page PDF is converted as an async task, then a restart on the same
--state-dir: the task runs again to completion (slow tier: minutes on a CPU; run with
-DDL_SLOW_TESTS=ON and `ctest -L slow`)."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from docling_util import make_pdf, request, source_request  # noqa: E402
from serve_util import TMP, Server, check, finish  # noqa: E402

PAGES = int(os.environ.get("DL_BIG_PAGES", "1000"))
seed = os.path.join(TMP, "seed.pdf")
big = os.path.join(TMP, "big.pdf")
with open(seed, "wb") as f:
    f.write(make_pdf(1))
subprocess.run([os.environ["DL_MAKE_BIG_DOCUMENT"], "pdf", seed, str(PAGES), big], check=True)
data = open(big, "rb").read()
state = os.path.join(TMP, "state")
s = Server("--state-dir", state, "--max-body-mb", "512")
p = s.http_port
code, j, _ = request(p, "POST", "/v1/convert/source/async",
                     source_request(data, "big.pdf", {"to_formats": ["doclayout_json"]}))
check(code == 200, "a %d-page PDF accepted as an async task" % PAGES)
tid = j["task_id"]
while True:
    st = request(p, "GET", "/v1/status/poll/%s" % tid)[1]
    if st["task_meta"]["num_pages_done"] >= min(50, PAGES // 4):
        break
    time.sleep(0.2)
s.p.send_signal(signal.SIGKILL)
s.stop()
check(st["task_status"] == "started", "killed mid-run (%d pages done)" %
      st["task_meta"]["num_pages_done"])
t0 = time.time()
s = Server("--state-dir", state, "--max-body-mb", "512")
p = s.http_port
code, j, _ = request(p, "GET", "/v1/status/poll/%s?wait=300" % tid)
while j["task_status"] in ("pending", "started"):
    code, j, _ = request(p, "GET", "/v1/status/poll/%s?wait=300" % tid)
check(j["task_status"] == "success", "after the restart the task completes (%.0f s)" %
      (time.time() - t0))
code, r, _ = request(p, "GET", "/v1/result/%s" % tid, timeout=600)
pages = r["document"]["doclayout_json_content"]["pages"] if code == 200 else []
check(len(pages) == PAGES and [q["page"] for q in pages] == list(range(1, PAGES + 1)),
      "its result has every page, in order")
s.stop()
finish("test_serve_docling_1000_pages")
