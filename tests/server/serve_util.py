"""Shared helpers of the `doclayout serve` tests: start a server on ephemeral loopback ports,
make pages, compute the post-processed reference with `doclayout infer` + postprocess_topk,
and speak KServe v2 over HTTP with curl (JSON and the binary tensor extension)."""
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

CLI = os.environ["DL_CLI"]
TOOL = os.environ["DL_POSTPROCESS_TOPK"]
SRC = os.environ["DL_SOURCE_DIR"]
MODEL = os.path.join(SRC, "tests/fixtures/golden/rtdetrv2-tiny")
MODEL_NAME = "rtdetrv2-tiny"
H = W = 640
K = 40  # the tiny model's queries
PAGE_FLOATS = 3 * H * W

failures = []


def check(cond, what):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        failures.append(what)


def finish(name):
    if failures:
        print("%s: %d check(s) failed" % (name, len(failures)))
        sys.exit(1)
    print("%s: all checks passed" % name)
    sys.exit(0)


TMP = tempfile.mkdtemp(prefix="dl_serve_test_")


class Server:
    """`doclayout serve` on ephemeral ports; stderr (the access log) kept in a file."""

    def __init__(self, *extra, grpc=False, models=None, port=0, expect_fail=False):
        args = [CLI, "serve", "--port", str(port), "--threads", "2"]
        for m in models or [MODEL]:
            args += ["--model", m]
        if grpc:
            args += ["--grpc-port", "0"]
        args += list(extra)
        self.log_path = tempfile.mktemp(dir=TMP, suffix=".log")
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        self.http_port = self.grpc_port = None
        self.out = b""
        deadline = time.time() + 60
        fd = self.p.stdout.fileno()
        pending = b""
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    self.out += line + b"\n"
                    text = line.decode()
                    if "HTTP on " in text:
                        self.http_port = int(text.rsplit(":", 1)[1])
                    if "gRPC on " in text:
                        self.grpc_port = int(text.rsplit(":", 1)[1])
                    if text.startswith("doclayout serve: ready"):
                        return
            elif self.p.poll() is not None:
                break
        if not expect_fail:
            raise RuntimeError("server did not start: %r %r" % (self.out, self.stderr()))

    def stderr(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.out += self.p.stdout.read()
        self.p.stdout.close()
        self.log.close()
        return rc


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make_pages(n, seed):
    """n pages of pre-processed pixel values in [0, 1): raw float32 bytes."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        # a smooth page with noise, so that the tiny model's scores spread
        vals = [rng.random() for _ in range(PAGE_FLOATS)]
        out.append(struct.pack("<%df" % PAGE_FLOATS, *vals))
    return out


def write_npy(path, raw, shape):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else ""))
    pad = 64 - (10 + len(header) + 1) % 64
    header += " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + raw)


def reference(pages, sizes):
    """labels, boxes, scores (raw bytes, [N,K] [N,K,4] [N,K]) from `doclayout infer` on the
    same pixels, post-processed by dl_model_postprocess_topk (tools/postprocess_topk)."""
    d = tempfile.mkdtemp(dir=TMP)
    write_npy(os.path.join(d, "pixels.npy"), b"".join(pages), (len(pages), 3, H, W))
    subprocess.run([CLI, "infer", "--model", MODEL, "--input", os.path.join(d, "pixels.npy"),
                    "--out", d, "--threads", "2"], check=True, stdout=subprocess.DEVNULL)
    wh = ",".join("%d,%d" % s for s in sizes)
    subprocess.run([TOOL, MODEL, os.path.join(d, "logits.npy"), os.path.join(d, "pred_boxes.npy"),
                    wh, d], check=True)
    out = []
    for name in ("labels", "boxes", "scores"):
        with open(os.path.join(d, name + ".bin"), "rb") as f:
            out.append(f.read())
    return out


def ref_page(ref, i):
    """The reference bytes of page i alone."""
    labels, boxes, scores = ref
    return (labels[i * K * 8:(i + 1) * K * 8], boxes[i * K * 16:(i + 1) * K * 16],
            scores[i * K * 4:(i + 1) * K * 4])


def join_pages(parts):
    return tuple(b"".join(p[j] for p in parts) for j in range(3))


def sizes_raw(sizes):
    return b"".join(struct.pack("<qq", w, h) for (w, h) in sizes)


def binary_body(pages, sizes, outputs=("labels", "boxes", "scores"), binary_out=True,
                extra_header=None):
    """Docling's binary request: JSON header, then the raw inputs. Returns (header_len, body)."""
    img = b"".join(pages)
    sz = sizes_raw(sizes)
    hdr = {"inputs": [
        {"name": "images", "shape": [len(pages), 3, H, W], "datatype": "FP32",
         "parameters": {"binary_data_size": len(img)}},
        {"name": "orig_target_sizes", "shape": [len(sizes), 2], "datatype": "INT64",
         "parameters": {"binary_data_size": len(sz)}}],
        "outputs": [{"name": o, "parameters": {"binary_data": binary_out}} for o in outputs]}
    if extra_header:
        hdr.update(extra_header)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    return len(h), h + img + sz


def curl(url, body=None, headers=(), method=None, timeout=120):
    """(status, headers dict lower-case, body bytes) through the curl program."""
    d = tempfile.mkdtemp(dir=TMP)
    hfile, ofile = os.path.join(d, "h"), os.path.join(d, "o")
    args = ["curl", "-sS", "--max-time", str(timeout), "-D", hfile, "-o", ofile, "-w",
            "%{http_code}"]
    if body is not None:
        bfile = os.path.join(d, "b")
        with open(bfile, "wb") as f:
            f.write(body)
        args += ["--data-binary", "@" + bfile]
    if method:
        args += ["-X", method]
    for h in headers:
        args += ["-H", h]
    args.append(url)
    r = subprocess.run(args, capture_output=True)
    code = int(r.stdout.decode() or "0")
    hdrs = {}
    if os.path.exists(hfile):
        for line in open(hfile, "rb").read().decode("latin-1").splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
    data = open(ofile, "rb").read() if os.path.exists(ofile) else b""
    return code, hdrs, data


def infer_binary(url, pages, sizes, headers=(), **kw):
    """POST a binary infer request; returns (status, hdrs, parsed outputs {name: bytes} or
    the error JSON)."""
    hl, body = binary_body(pages, sizes, **kw)
    code, hdrs, data = curl(url, body, ["Content-Type: application/octet-stream",
                                        "Inference-Header-Content-Length: %d" % hl] + list(headers))
    if code != 200:
        try:
            return code, hdrs, json.loads(data)
        except ValueError:
            return code, hdrs, {"raw": data}
    return code, hdrs, parse_binary_reply(hdrs, data)


def parse_binary_reply(hdrs, data):
    """Docling's decoding: the header JSON, then each output's binary_data_size bytes in order."""
    hl = int(hdrs.get("inference-header-content-length", len(data)))
    header = json.loads(data[:hl])
    raw = data[hl:]
    at = 0
    out = {"_header": header}
    for o in header["outputs"]:
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is None:
            fmt = "<%dq" if o["datatype"] == "INT64" else "<%df"
            out[o["name"]] = struct.pack(fmt % len(o["data"]), *o["data"])
            continue
        out[o["name"]] = raw[at:at + size]
        at += size
    assert at == len(raw), "trailing binary output data"
    return out
