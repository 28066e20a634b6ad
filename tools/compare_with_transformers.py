#!/usr/bin/env python3
"""Compare doclayout with Hugging Face transformers on your own weights and pages.

Optional tooling: doclayout never needs Python. This script needs torch, transformers and
Pillow (the stack Docling runs), and a built `doclayout` binary.

    python3 tools/compare_with_transformers.py --model ~/models/docling-layout-heron \
        --doclayout build/doclayout page1.png page2.jpg

For each page it runs transformers' image processor + model on CPU in float32 (TF32 off), feeds
the very same pixel_values to `doclayout infer`, and prints the max |diff| of logits and boxes;
then it runs `doclayout detect` on the page and matches its detections to transformers'
post_process_object_detection (threshold 0.3, boxes clamped to the page as Docling does) by
label and IoU.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face model directory")
    ap.add_argument("--doclayout", default="build/doclayout", help="path of the doclayout binary")
    ap.add_argument("--threshold", type=float, default=0.3)
    ap.add_argument("pages", nargs="+")
    args = ap.parse_args()

    try:
        import numpy as np
        import torch
        from PIL import Image
        from transformers import AutoImageProcessor, AutoModelForObjectDetection
    except ImportError as e:
        sys.exit(f"this script needs numpy, torch, transformers and Pillow: {e}")

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    processor = AutoImageProcessor.from_pretrained(args.model)
    model = AutoModelForObjectDetection.from_pretrained(args.model).eval()
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for page in args.pages:
            image = Image.open(page).convert("RGB")
            inputs = processor(images=[image], return_tensors="pt")
            with torch.no_grad():
                out = model(**inputs)
            pv = inputs["pixel_values"].numpy().astype(np.float32)
            np.save(os.path.join(tmp, "pv.npy"), pv)
            subprocess.run([args.doclayout, "infer", "--model", args.model, "--input",
                            os.path.join(tmp, "pv.npy"), "--out", tmp], check=True)
            logits = np.load(os.path.join(tmp, "logits.npy"))
            boxes = np.load(os.path.join(tmp, "pred_boxes.npy"))
            dl = float(np.abs(logits - out.logits.numpy()).max())
            db = float(np.abs(boxes - out.pred_boxes.numpy()).max())
            worst = max(worst, dl)
            print(f"{page}: network max|dlogits| {dl:.3g}  max|dboxes| {db:.3g}")

            w, h = image.size
            ref = processor.post_process_object_detection(
                out, threshold=args.threshold, target_sizes=[(h, w)])[0]
            det = subprocess.run([args.doclayout, "detect", "--model", args.model,
                                  "--threshold", str(args.threshold), page],
                                 check=True, capture_output=True, text=True)
            ours = json.loads(det.stdout)["pages"][0]["detections"]
            used = set()
            matched = 0
            for score, label, box in zip(ref["scores"].tolist(), ref["labels"].tolist(),
                                         ref["boxes"].tolist()):
                box = [min(max(box[0], 0), w), min(max(box[1], 0), h),
                       min(max(box[2], 0), w), min(max(box[3], 0), h)]
                best, best_iou = None, 0.0
                for i, d in enumerate(ours):
                    if i in used or d["label_id"] != label:
                        continue
                    b = d["box"]
                    ix = max(0, min(b[2], box[2]) - max(b[0], box[0]))
                    iy = max(0, min(b[3], box[3]) - max(b[1], box[1]))
                    inter = ix * iy
                    union = (b[2] - b[0]) * (b[3] - b[1]) + (box[2] - box[0]) * (box[3] - box[1]) - inter
                    iou = inter / union if union > 0 else 0
                    if iou > best_iou:
                        best, best_iou = i, iou
                if best is not None and best_iou >= 0.95 and abs(ours[best]["score"] - score) <= 0.02:
                    used.add(best)
                    matched += 1
            print(f"{page}: detections transformers {len(ref['scores'])}, doclayout {len(ours)}, "
                  f"matched {matched} (IoU >= 0.95, |score diff| <= 0.02)")
    print(f"worst logits difference over all pages: {worst:.3g}")


if __name__ == "__main__":
    main()
