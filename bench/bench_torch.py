#!/usr/bin/env python3
"""PyTorch side of scripts/gpu-check.sh: transformers eager on the same model directories (the
random weights make_random_model wrote; the tensor names are the checkpoint's) and the same input
as bench_cuda, timed the way ../shared/golden/make_golden.py times the baselines (median after
warm-up, torch.cuda.synchronize() around each run).

  bench_torch.py input INPUT.npy [N]                 write N random pages [N,3,640,640] float32
  bench_torch.py bench NAME DIR INPUT.npy [RUNS]     JSON lines: fp32-default, bf16-autocast x
                                                     batch 1, 32 (fp32-strict too with --strict)
  bench_torch.py dump DIR INPUT.npy PREFIX           fp32 (TF32 off) outputs of image 0
  bench_torch.py compare OURS_PREFIX TORCH_PREFIX    our fp32 outputs vs transformers', queries
                                                     matched by their boxes
  bench_torch.py table OURS.jsonl TORCH.jsonl        the summary table (markdown)
  bench_torch.py cpu NAME DIR THREADS [RUNS]         JSON lines: transformers eager and ONNX
                                                     Runtime (CPU provider) at batch 1 on the CPU
"""
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TRANSFORMERS_DISABLE_TORCH_CHECK", "1")


def cmd_input(path, n=32):
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.random((int(n), 3, 640, 640), dtype=np.float32)
    np.save(path, x)


def load(dirname):
    import torch
    from transformers import AutoModelForObjectDetection
    torch.set_grad_enabled(False)
    m = AutoModelForObjectDetection.from_pretrained(dirname).eval().to("cuda")
    return m


def timeit(fn, warm, iters):
    import torch
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return statistics.median(ts), ts[0]


def cmd_bench(name, dirname, inp, runs=30, strict=False):
    import numpy as np
    import torch
    m = load(dirname)
    x_all = torch.from_numpy(np.load(inp)).to("cuda")
    modes = (["fp32-strict"] if strict else []) + ["fp32-default", "bf16-autocast"]
    dev = torch.cuda.get_device_name(0)
    for mode in modes:
        torch.backends.cudnn.allow_tf32 = mode != "fp32-strict"  # PyTorch's defaults otherwise
        torch.backends.cuda.matmul.allow_tf32 = False
        for bs in (1, 32):
            x = x_all[:bs] if x_all.shape[0] >= bs else x_all[:1].repeat(bs, 1, 1, 1)

            def f():
                with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16,
                                                     enabled=(mode == "bf16-autocast")):
                    m(pixel_values=x)
            n = runs if bs == 1 else max(5, runs // 3)
            med, best = timeit(f, 3, n)
            print(json.dumps({"impl": "transformers-eager", "model": name, "precision": mode,
                              "batch": bs, "ms": round(med * 1e3, 3), "ms_min": round(best * 1e3, 3),
                              "pages_per_s": round(bs / med, 1), "runs": n, "device": dev,
                              "torch": torch.__version__}), flush=True)


def cmd_dump(dirname, inp, prefix):
    import numpy as np
    import torch
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    m = load(dirname)
    x = torch.from_numpy(np.load(inp)[:1]).to("cuda")
    out = m(pixel_values=x)
    np.save(prefix + "_logits.npy", out.logits.float().cpu().numpy())
    np.save(prefix + "_boxes.npy", out.pred_boxes.float().cpu().numpy())


def cmd_compare(ours, theirs):
    """Queries come out of a top-k over near-tied random scores, so their order may differ:
    match each of transformers' queries to ours by the nearest box, then compare."""
    import numpy as np
    lo, bo = np.load(ours + "_logits.npy")[0], np.load(ours + "_boxes.npy")[0]
    lt, bt = np.load(theirs + "_logits.npy")[0], np.load(theirs + "_boxes.npy")[0]
    d = np.abs(bt[:, None, :] - bo[None, :, :]).max(-1)  # [Q theirs, Q ours]
    used, dl, db, unmatched = set(), 0.0, 0.0, 0
    for j in np.argsort(d.min(1)):
        order = [i for i in np.argsort(d[j]) if i not in used]
        if not order or d[j, order[0]] > 1e-3:
            unmatched += 1
            continue
        i = order[0]
        used.add(i)
        dl = max(dl, float(np.abs(lt[j] - lo[i]).max()))
        db = max(db, float(np.abs(bt[j] - bo[i]).max()))
    print(json.dumps({"compare": os.path.basename(ours), "queries": int(lt.shape[0]),
                      "unmatched": unmatched, "max_abs_dlogits": dl, "max_abs_dboxes": db}))


def cmd_table(ours_path, torch_path):
    rows = []
    for p in (ours_path, torch_path):
        if os.path.exists(p):
            for line in open(p):
                line = line.strip()
                if line.startswith("{"):
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        rows.append({"model": "?", "impl": "?", "error": line[:80]})
    dev = next((r.get("device") for r in rows if r.get("impl") != "doclayout" and r.get("device")), "")
    print(f"| model | implementation | precision | batch 1 ms | batch 32 pages/s |   ({dev})")
    print("|---|---|---|---|---|")
    keys = []
    for r in rows:
        k = (r.get("model"), r.get("impl"), r.get("precision"))
        if k not in keys:
            keys.append(k)
    for k in keys:
        sel = [r for r in rows if (r.get("model"), r.get("impl"), r.get("precision")) == k]
        err = next((r["error"] for r in sel if "error" in r), None)
        b1 = next((r for r in sel if r.get("batch") == 1 and "ms" in r), None)
        b32 = next((r for r in sel if r.get("batch") == 32 and "ms" in r), None)
        cell1 = f"{b1['ms']:.2f}" + (" (graph)" if b1.get("graph") else "") if b1 else "-"
        cell32 = f"{b32['pages_per_s']:.0f}" if b32 else "-"
        if err and not b1 and not b32:
            cell1, cell32 = "n/a", err[:60]
        print(f"| {k[0]} | {k[1]} | {k[2]} | {cell1} | {cell32} |")


def cmd_cpu(name, dirname, threads, runs=5):
    """The CPU side by side: transformers eager (fp32) and ONNX Runtime's CPU provider on the
    same model directory and a 640x640 input, batch 1, `threads` intra-op threads."""
    import numpy as np
    import torch
    from transformers import AutoModelForObjectDetection
    threads = int(threads)
    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    m = AutoModelForObjectDetection.from_pretrained(dirname).eval()
    x = torch.from_numpy(np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32))

    def run_torch():
        m(pixel_values=x)
    ts = []
    run_torch()
    for _ in range(runs):
        t = time.perf_counter()
        run_torch()
        ts.append(time.perf_counter() - t)
    print(json.dumps({"impl": "transformers-eager-cpu", "model": name, "threads": threads,
                      "ms": round(statistics.median(ts) * 1e3, 1), "runs": runs,
                      "torch": torch.__version__}), flush=True)
    try:
        import onnxruntime as ort
        p = f"/tmp/{name}.onnx"
        t = time.perf_counter()
        torch.onnx.export(m, (x,), p, input_names=["pixel_values"],
                          output_names=["logits", "pred_boxes"], opset_version=17, dynamo=False)
        export_s = time.perf_counter() - t
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        s = ort.InferenceSession(p, so, providers=["CPUExecutionProvider"])
        xi = x.numpy()
        s.run(None, {"pixel_values": xi})
        ts = []
        for _ in range(runs):
            t = time.perf_counter()
            s.run(None, {"pixel_values": xi})
            ts.append(time.perf_counter() - t)
        print(json.dumps({"impl": "onnxruntime-cpu", "model": name, "threads": threads,
                          "ms": round(statistics.median(ts) * 1e3, 1), "runs": runs,
                          "export_s": round(export_s, 1), "onnxruntime": ort.__version__}),
              flush=True)
    except Exception as e:  # the export or the runtime may be missing or refuse the model
        print(json.dumps({"impl": "onnxruntime-cpu", "model": name, "error": str(e)[:200]}),
              flush=True)


if __name__ == "__main__":
    a = sys.argv[1:]
    if not a:
        print(__doc__)
        sys.exit(2)
    if a[0] == "input":
        cmd_input(*a[1:])
    elif a[0] == "bench":
        strict = "--strict" in a
        a = [x for x in a if x != "--strict"]
        cmd_bench(a[1], a[2], a[3], int(a[4]) if len(a) > 4 else 30, strict)
    elif a[0] == "dump":
        cmd_dump(*a[1:4])
    elif a[0] == "compare":
        cmd_compare(*a[1:3])
    elif a[0] == "cpu":
        cmd_cpu(a[1], a[2], a[3], int(a[4]) if len(a) > 4 else 5)
    elif a[0] == "table":
        cmd_table(*a[1:3])
    else:
        print(__doc__)
        sys.exit(2)
