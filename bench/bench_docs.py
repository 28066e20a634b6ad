#!/usr/bin/env python3
"""The document API of `doclayout serve` under load (issue 14): documents/s and pages/s through
POST /v1/convert/file (to_formats json: a DoclingDocument) with N clients, against `doclayout
detect --format docling` on the same documents, model and threads in the same run (both a
page a batch: detect's default, and what the server's conversions submit to its batcher);
the latency of served clients with and without slowloris-style and oversize-body attacks; and
a soak (RSS of the server after a warm-up vs every minute after).

  bench/bench_docs.py --cli build/doclayout [--model DIR] [--threads N] [--seconds S]
      [--concurrency 1,8,32] [--attack-seconds S] [--soak-seconds S] [--soak-clients N]
      [DOC ...]

Documents: the given files, else the PDFs of tests/fixtures/text and the PubLayNet page images
of ../shared/data/publaynet-examples. Clients are Python threads, each with its own
connection, sending one document per request back to back (the documents in turn). Exit 1
when a request that should succeed fails, an attack gets through, or the soak grows by
--soak-max-growth % or more."""
import argparse
import glob
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", default=os.path.join(HERE, "tests/fixtures/golden/rtdetrv2-tiny"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--attack-seconds", type=float, default=20)
    ap.add_argument("--soak-seconds", type=float, default=0)
    ap.add_argument("--soak-clients", type=int, default=4)
    ap.add_argument("--soak-max-growth", type=float, default=5.0)
    ap.add_argument("docs", nargs="*")
    return ap.parse_args()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def multipart(name, data, boundary="dlBenchBoundary9x"):
    body = (b"--%s\r\nContent-Disposition: form-data; name=\"to_formats\"\r\n\r\njson\r\n"
            b"--%s\r\nContent-Disposition: form-data; name=\"files\"; filename=\"%s\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" % (
                boundary.encode(), boundary.encode(), name.encode()))
    return body + data + b"\r\n--%s--\r\n" % boundary.encode(), \
        "multipart/form-data; boundary=" + boundary


def cli_pages(a, docs):
    """Pages of each document, from `doclayout detect --format json`."""
    out = subprocess.run([a.cli, "detect", "--model", a.model, "--threads", str(a.threads),
                          "--quiet"] + docs, capture_output=True, check=True).stdout
    pages = {}
    for p in json.loads(out)["pages"]:
        pages[p["source"]] = pages.get(p["source"], 0) + 1
    return [pages[d] for d in docs]


def cli_rate(a, docs, pages, seconds):
    """docs/s, pages/s of one `doclayout detect --format docling -o DIR/` run over the
    documents repeated to last about `seconds` (best of 2; model load included)."""
    d = tempfile.mkdtemp()
    t0 = time.perf_counter()
    subprocess.run([a.cli, "detect", "--model", a.model, "--threads", str(a.threads), "--quiet",
                    "--format", "docling", "--force", "-o", d + "/"] + docs, check=True,
                   stdout=subprocess.DEVNULL)
    reps = max(1, int(seconds / max(time.perf_counter() - t0, 1e-3)))
    best = None
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run([a.cli, "detect", "--model", a.model, "--threads", str(a.threads),
                        "--quiet", "--format", "docling", "--force", "-o", d + "/"] + docs * reps,
                       check=True, stdout=subprocess.DEVNULL)
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    return reps * len(docs) / best, reps * sum(pages) / best


class Bench:
    def __init__(self, a, docs, pages):
        self.a, self.pages = a, pages
        self.bodies = [multipart(os.path.basename(d), open(d, "rb").read()) for d in docs]
        self.srv = subprocess.Popen(
            [a.cli, "serve", "--model", "bench=" + a.model, "--port", "0", "--threads",
             str(a.threads), "--max-batch", str(a.max_batch), "--max-tasks", "256",
             "--read-timeout-s", "10", "--max-body-mb", "32", "--no-access-log"],
            stdout=subprocess.PIPE, text=True)
        for line in self.srv.stdout:
            if "HTTP on" in line:
                self.port = int(line.rsplit(":", 1)[1])
            if line.startswith("doclayout serve: ready"):
                break
        threading.Thread(target=lambda: [None for _ in self.srv.stdout], daemon=True).start()

    def run(self, conc, seconds):
        """(docs/s, pages/s, p50 s, p99 s, docs, errors) of conc clients for `seconds`."""
        lat, pages, errors = [], [0], [0]
        stop = time.perf_counter() + seconds
        lock = threading.Lock()

        def client(i):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            k = i
            while time.perf_counter() < stop:
                body, ctype = self.bodies[k % len(self.bodies)]
                t0 = time.perf_counter()
                try:
                    c.request("POST", "/v1/convert/file", body, {"Content-Type": ctype})
                    r = c.getresponse()
                    ok = r.status == 200 and json.loads(r.read()).get("status") == "success"
                except (OSError, http.client.HTTPException):
                    ok = False
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
                with lock:
                    if ok:
                        lat.append(time.perf_counter() - t0)
                        pages[0] += self.pages[k % len(self.bodies)]
                    else:
                        errors[0] += 1
                k += 1
            c.close()

        t0 = time.perf_counter()
        ts = [threading.Thread(target=client, args=(i,)) for i in range(conc)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        wall = time.perf_counter() - t0
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))] if lat else float("nan")  # noqa
        return len(lat) / wall, pages[0] / wall, p(0.5), p(0.99), len(lat), errors[0]

    def stop(self):
        self.srv.send_signal(signal.SIGTERM)
        return self.srv.wait()


def slowloris(port, stop, stats):
    """Open a connection, send a request's headers one byte a second; reopen when cut."""
    req = (b"POST /v1/convert/file HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
           b"boundary=b\r\nContent-Length: 100000\r\nX-Pad: " + b"a" * 4000)
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            stats["refused"] += 1
            time.sleep(0.5)
            continue
        stats["opened"] += 1
        try:
            for b in req:
                if stop.is_set():
                    break
                s.send(bytes([b]))
                stop.wait(1.0)
            stats["survived"] += not stop.is_set()
        except OSError:
            stats["cut"] += 1  # the server closed it (--read-timeout-s)
        s.close()


def oversize(port, stop, stats):
    """POST bodies past --max-body-mb: a declared 1 GiB, and a chunked body streamed without
    end; count how each ends."""
    junk = b"\0" * (1 << 20)
    chunked = False
    while not stop.is_set():
        chunked = not chunked
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            hdr = (b"POST /v1/convert/file HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/"
                   b"form-data; boundary=b\r\n")
            hdr += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else \
                b"Content-Length: 1073741824\r\n\r\n"
            s.send(hdr)
            sent = 0
            while not stop.is_set() and sent < (2 << 30):
                s.sendall((b"100000\r\n" + junk + b"\r\n") if chunked else junk)
                sent += len(junk)
            stats["sent_all"] += not stop.is_set()
        except OSError:
            stats["cut"] += 1
            try:
                stats["413"] += b" 413 " in s.recv(200)
            except OSError:
                pass
        s.close()


def main():
    a = parse_args()
    docs = a.docs or sorted(glob.glob(os.path.join(HERE, "tests/fixtures/text/*.pdf")) +
                            glob.glob(os.path.join(HERE, "../shared/data/publaynet-examples/"
                                                   "*.jpg")))
    pages = cli_pages(a, docs)
    print("%d documents, %d pages; model %s, %d threads; the server's --max-batch %d (its "
          "conversions, like detect, send a page at a time)" % (
              len(docs), sum(pages), a.model, a.threads, a.max_batch))
    status = 0
    cd, cp = cli_rate(a, docs, pages, a.seconds / 2)
    print("doclayout detect --format docling: %.2f docs/s, %.2f pages/s" % (cd, cp))
    b = Bench(a, docs, pages)
    b.run(1, 3)  # warm-up
    if a.concurrency:
        print("| clients | docs/s | pages/s | vs detect | p50 ms | p99 ms | docs | errors |")
        print("|---|---|---|---|---|---|---|---|")
    for conc in [int(c) for c in a.concurrency.split(",") if c]:
        ds, ps, p50, p99, n, err = b.run(conc, a.seconds)
        status |= err > 0
        print("| %d | %.2f | %.2f | %.0f%% | %.0f | %.0f | %d | %d |" % (
            conc, ds, ps, 100 * ps / cp, p50 * 1000, p99 * 1000, n, err))
        sys.stdout.flush()
    if a.attack_seconds > 0:
        _, _, p50, p99, n, err = b.run(1, a.attack_seconds)
        print("1 client, no attack: p50 %.0f ms, p99 %.0f ms, %d docs, %d errors" % (
            p50 * 1000, p99 * 1000, n, err))
        status |= err > 0
        stop = threading.Event()
        sl = {"opened": 0, "cut": 0, "survived": 0, "refused": 0}
        ov = {"cut": 0, "413": 0, "sent_all": 0}
        att = [threading.Thread(target=slowloris, args=(b.port, stop, sl)) for _ in range(64)]
        att += [threading.Thread(target=oversize, args=(b.port, stop, ov)) for _ in range(4)]
        for t in att:
            t.start()
        time.sleep(2)
        _, _, p50, p99, n, err = b.run(1, a.attack_seconds)
        stop.set()
        for t in att:
            t.join()
        print("1 client under attack (64 slowloris connections, 4 oversize-body senders): p50 "
              "%.0f ms, p99 %.0f ms, %d docs, %d errors" % (p50 * 1000, p99 * 1000, n, err))
        print("  slowloris: %d connections opened, %d cut by the server, %d refused; oversize: "
              "%d cut (%d answered 413), %d sent in full" % (
                  sl["opened"], sl["cut"], sl["refused"], ov["cut"], ov["413"], ov["sent_all"]))
        status |= err > 0 or ov["sent_all"] > 0 or n == 0
    if a.soak_seconds > 0:
        b.run(max(8, a.soak_clients), 5)  # warm-up: a burst of 8+ clients, then steady load
        warm = max(10.0, a.soak_seconds * 0.1)
        b.run(a.soak_clients, warm)
        time.sleep(2.0)
        r0 = rss_kb(b.srv.pid)
        samples, total, errs, t0 = [], 0, 0, time.perf_counter()
        left = a.soak_seconds - warm
        while left > 0:
            step = min(60.0, left)
            _, _, _, _, n, err = b.run(a.soak_clients, step)
            total, errs, left = total + n, errs + err, left - step
            time.sleep(2.0)  # sampled with the server idle
            samples.append(rss_kb(b.srv.pid))
        growth = 100.0 * (samples[-1] - r0) / r0 if samples else 0.0
        print("soak: %d clients for %.0f s (%d documents, %d errors, %.2f docs/s after the "
              "warm-up): RSS after a %.0f s warm-up %.1f MB, at the end %.1f MB (%+.2f%%), peak "
              "%.1f MB; samples (MB): %s" % (
                  a.soak_clients, a.soak_seconds, total, errs, total / (time.perf_counter() - t0),
                  warm, r0 / 1024, samples[-1] / 1024 if samples else r0 / 1024, growth,
                  max(samples + [r0]) / 1024, " ".join("%.1f" % (x / 1024) for x in samples)))
        if growth >= a.soak_max_growth or errs:
            print("soak: FAILED")
            status = 1
    rc = b.stop()
    print("server exit status %d" % rc)
    sys.exit(status or (rc != 0))


if __name__ == "__main__":
    main()
