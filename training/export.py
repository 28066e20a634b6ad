#!/usr/bin/env python3
"""Export a training checkpoint as a Hugging Face-style model directory that doclayout loads:
config.json, preprocessor_config.json, model.safetensors (float32; BatchNorm kept as separate
tensors, doclayout folds them at load time).

    /usr/bin/python3 training/export.py training/run/last.pt models/doclayout-dense-v1
"""
import json
import os
import struct
import sys

import numpy as np
import torch

LABELS = ["Caption", "Footnote", "Formula", "List-item", "Page-footer", "Page-header", "Picture",
          "Section-header", "Table", "Text", "Title", "Document Index", "Code",
          "Checkbox-Selected", "Checkbox-Unselected", "Form", "Key-Value Region"]


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy())
        dtype = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}[a.dtype]
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def export(checkpoint, out_dir, extra_info=None):
    ck = torch.load(checkpoint, map_location="cpu")
    config = dict(ck["config"])
    size = config.pop("input_size", 512)
    config["id2label"] = {str(i): n for i, n in enumerate(LABELS)}
    config["label2id"] = {n: i for i, n in enumerate(LABELS)}
    config["training_steps"] = ck.get("step", 0)
    if extra_info:
        config.update(extra_info)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    pre = {"do_normalize": False, "do_rescale": True, "do_resize": True, "resample": 2,
           "rescale_factor": 1 / 255, "image_processor_type": "RTDetrImageProcessor",
           "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
           "size": {"height": size, "width": size}}
    with open(os.path.join(out_dir, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), ck["model"])
    print(f"wrote {out_dir} (step {ck.get('step', 0)}, input {size}x{size})")


if __name__ == "__main__":
    export(sys.argv[1], sys.argv[2])
