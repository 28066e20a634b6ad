#!/usr/bin/env python3
"""Throughput and latency of `doclayout serve` (KServe v2 over HTTP with binary tensors, the
way Docling sends them) at several client concurrencies, next to the in-process network on the
same model, pixels and threads; and a soak: RSS of the server after warm-up vs at the end.

  bench/bench_serve.py --cli build/doclayout --model DIR [--threads N] [--seconds S]
                       [--concurrency 1,8,32] [--soak-seconds S] [--max-batch N]

In-process: with --bench-model, bench_model's median ms/page at batch 1 (the network alone,
same threads); else `doclayout infer` on 1 and on P pages, (t(P) - t(1)) / (P - 1) per page
(noisier: it includes reading and writing the .npy files). Clients are Python threads, each with its
own keep-alive HTTP connection, sending 1-page requests back to back."""
import argparse
import http.client
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--soak-seconds", type=float, default=0)
    ap.add_argument("--soak-clients", type=int, default=8)
    ap.add_argument("--soak-max-growth", type=float, default=5.0,
                    help="exit 1 when RSS grows more than this (%%) after the warm-up")
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--max-wait-ms", type=int, default=2)
    ap.add_argument("--bench-model", help="build/bench/bench_model: the in-process reference "
                    "from its median ms/page at batch 1 (else from doclayout infer timings)")
    return ap.parse_args()


def model_input(model):
    with open(os.path.join(model, "preprocessor_config.json")) as f:
        pp = json.load(f)
    return pp["size"]["height"], pp["size"]["width"]


def npy(path, raw, shape):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(map(str, shape))
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + raw)


def in_process(a, page, h, w, pages=8):
    d = tempfile.mkdtemp()
    times = {}
    for n in (1, pages):
        npy(os.path.join(d, "p%d.npy" % n), page * n, (n, 3, h, w))
        best = None
        for _ in range(2):
            t0 = time.perf_counter()
            subprocess.run([a.cli, "infer", "--model", a.model, "--input",
                            os.path.join(d, "p%d.npy" % n), "--out", d, "--threads",
                            str(a.threads)], check=True, stdout=subprocess.DEVNULL)
            t = time.perf_counter() - t0
            best = t if best is None else min(best, t)
        times[n] = best
    per_page = (times[pages] - times[1]) / (pages - 1)
    return 1.0 / per_page


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def main():
    a = parse_args()
    h, w = model_input(a.model)
    rng = random.Random(1)
    page = struct.pack("<%df" % (3 * h * w), *(rng.random() for _ in range(3 * h * w)))
    if not a.concurrency:
        ip = None  # a soak alone: no comparison
    elif a.bench_model:
        r = subprocess.run([a.bench_model, a.model, "auto", "20", str(a.threads)],
                           capture_output=True, text=True, check=True)
        m = re.search(r"^%d\s+.*?\s([\d.]+)\s+[\d.]+\s+[\d.]+\s+\d+%%$" % a.threads, r.stdout,
                      re.M)
        ip = 1000.0 / float(m.group(1))
    else:
        ip = in_process(a, page, h, w)
    if ip:
        print("in-process forward: %.2f pages/s (%d threads)" % (ip, a.threads))
    srv = subprocess.Popen([a.cli, "serve", "--model", "bench=" + a.model, "--port", "0",
                            "--threads", str(a.threads), "--max-batch", str(a.max_batch),
                            "--max-wait-ms", str(a.max_wait_ms), "--max-queue", "4096",
                            "--no-access-log"], stdout=subprocess.PIPE, text=True)
    port = None
    for line in srv.stdout:
        if "HTTP on" in line:
            port = int(line.rsplit(":", 1)[1])
        if line.startswith("doclayout serve: ready"):
            break
    sz = struct.pack("<qq", 1654, 2339)
    hdr = json.dumps({"inputs": [
        {"name": "images", "shape": [1, 3, h, w], "datatype": "FP32",
         "parameters": {"binary_data_size": len(page)}},
        {"name": "orig_target_sizes", "shape": [1, 2], "datatype": "INT64",
         "parameters": {"binary_data_size": 16}}],
        "outputs": [{"name": n, "parameters": {"binary_data": True}}
                    for n in ("labels", "boxes", "scores")]}).encode()
    body = hdr + page + sz
    headers = {"Content-Type": "application/octet-stream",
               "Inference-Header-Content-Length": str(len(hdr))}

    def infer_once(n):
        nh = json.dumps({"inputs": [
            {"name": "images", "shape": [n, 3, h, w], "datatype": "FP32",
             "parameters": {"binary_data_size": n * len(page)}},
            {"name": "orig_target_sizes", "shape": [n, 2], "datatype": "INT64",
             "parameters": {"binary_data_size": n * 16}}],
            "outputs": [{"name": o, "parameters": {"binary_data": True}}
                        for o in ("labels", "boxes", "scores")]}).encode()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        c.request("POST", "/v2/models/bench/infer", nh + page * n + sz * n,
                  {"Content-Type": "application/octet-stream",
                   "Inference-Header-Content-Length": str(len(nh))})
        r = c.getresponse()
        r.read()
        c.close()
        if r.status != 200:
            sys.exit("a %d-page request failed: HTTP %d" % (n, r.status))

    def batch_sizes():
        # cumulative batches per size bucket of the server's /metrics histogram
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        return {int(le): int(v) for le, v in re.findall(
            r'^doclayout_batch_pages_bucket\{le="(\d+)"\} (\d+)', text, re.M)}

    def run(conc, seconds):
        lat, errors = [], [0]
        stop = time.perf_counter() + seconds

        def client():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                c.request("POST", "/v2/models/bench/infer", body, headers)
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    lat.append(time.perf_counter() - t0)
                else:
                    errors[0] += 1
            c.close()

        t0 = time.perf_counter()
        ts = [threading.Thread(target=client) for _ in range(conc)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        wall = time.perf_counter() - t0
        lat.sort()
        return len(lat) / wall, lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))], \
            len(lat), errors[0]

    run(1, 3)  # warm-up
    print("| clients | pages/s | vs in-process | p50 ms | p99 ms | requests | errors |")
    print("|---|---|---|---|---|---|---|")
    for conc in [int(c) for c in a.concurrency.split(",") if c]:
        ps, p50, p99, n, err = run(conc, a.seconds)
        print("| %d | %.2f | %.0f%% | %.0f | %.0f | %d | %d |" % (conc, ps, 100 * ps / ip,
              p50 * 1000, p99 * 1000, n, err))
        sys.stdout.flush()
    status = 0
    if a.soak_seconds > 0:
        # warm-up, then the rest in steps, RSS sampled after each. The warm-up reaches the high
        # -water marks a steady load only reaches at some random minute: one request of
        # max-batch pages (a full batch through the detector: on a GPU its lanes for that many
        # pages), then max-batch clients at once (the connection buffers of that many), then the
        # soak's own clients
        infer_once(a.max_batch)
        run(max(a.max_batch, a.soak_clients), 3)
        warm = max(10.0, a.soak_seconds * 0.1)
        run(a.soak_clients, warm)
        # RSS is sampled with the server idle: taken the moment the clients stop, it catches 0-2
        # request bodies (4.9 MB each, ~9% of the tiny model's server) still being freed as the
        # connections close, which is timing, not growth (a first soak failed on exactly one body)
        time.sleep(2.0)
        r0 = rss_kb(srv.pid)
        b0 = batch_sizes()
        samples, total_n, total_err, t_soak = [], 0, 0, time.perf_counter()
        bigger = []  # per step: batches of more than 2 pages in it (gathered from 3+ clients)
        left = a.soak_seconds - warm
        while left > 0:
            step = min(60.0, left)
            _, _, _, n, err = run(a.soak_clients, step)
            total_n, total_err, left = total_n + n, total_err + err, left - step
            time.sleep(2.0)
            samples.append(rss_kb(srv.pid))
            b1 = batch_sizes()
            more = lambda b: b[max(b)] - b[2]  # noqa: E731
            bigger.append(more(b1) - more(b0))
            b0 = b1
        r1 = samples[-1] if samples else r0
        growth = 100.0 * (r1 - r0) / r0
        print("soak: %d clients for %.0f s (%d requests, %d errors, %.2f pages/s after the "
              "warm-up): RSS after a %.0f s warm-up %.1f MB, at the end %.1f MB (%+.2f%%), peak "
              "%.1f MB; samples (MB): %s" % (
                  a.soak_clients, a.soak_seconds, total_n, total_err,
                  total_n / (time.perf_counter() - t_soak), warm, r0 / 1024, r1 / 1024, growth,
                  max(samples + [r0]) / 1024, " ".join("%.1f" % (x / 1024) for x in samples)))
        print("soak: batches of 3 or more pages in each step: %s" % " ".join(map(str, bigger)))
        if growth >= a.soak_max_growth or total_err:
            print("soak: FAILED (growth %+.2f%% >= %.1f%% or errors)" % (growth,
                                                                          a.soak_max_growth))
            status = 1
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait()
    print("server exit status %d" % rc)
    sys.exit(status or (rc != 0))


if __name__ == "__main__":
    main()
