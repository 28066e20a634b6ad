#!/usr/bin/env python3
"""Reference outputs of the dense detector's PyTorch definition for doclayout's parity test.

Builds a small DenseDetector with random weights (non-trivial BatchNorm statistics, non-zero
biases), exports it like a trained model, and saves a random input and the PyTorch outputs in
the engine's common form (logits [S, 17], boxes [S, 4] normalised cx, cy, w, h).

    /usr/bin/python3 training/make_dense_fixture.py tests/fixtures/dense-tiny
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dense_model import DEFAULT_CONFIG, DenseDetector, detector_outputs, locations  # noqa: E402
from export import export  # noqa: E402

out = sys.argv[1]
torch.manual_seed(7)
config = dict(DEFAULT_CONFIG)
config.update({"widths": [8, 16, 24, 32, 48], "depths": [1, 2, 1, 1], "neck_width": 24,
               "head_width": 16, "input_size": 128})
model = DenseDetector(config)
with torch.no_grad():
    for name, p in model.named_parameters():
        p.copy_(torch.randn_like(p) * (0.3 if p.dim() > 1 else 0.1))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.1)
            m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
model.eval()
os.makedirs(out, exist_ok=True)
ck = os.path.join(out, "ck.pt")
torch.save({"model": model.state_dict(), "step": 0, "config": config}, ck)
export(ck, out)
os.remove(ck)
size = config["input_size"]
u8 = torch.randint(0, 256, (1, 3, size, size), dtype=torch.uint8)
x = u8.float() * np.float32(1 / 255)
with torch.no_grad():
    cls, box, ctr = model(x)
    pts, st = locations(size, size, config["strides"])
    logits, boxes = detector_outputs(cls, box, ctr, pts, st, size, size)
np.save(os.path.join(out, "pixel_values_u8.npy"), u8.numpy())
np.save(os.path.join(out, "out_logits.npy"), logits.numpy().astype(np.float32))
np.save(os.path.join(out, "out_pred_boxes.npy"), boxes.numpy().astype(np.float32))
print("wrote", out, logits.shape, boxes.shape)
