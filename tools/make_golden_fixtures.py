#!/usr/bin/env python3
"""Copy a trimmed subset of ../shared/golden into tests/fixtures/golden, so the parity tests also
run in a clone without ../shared. out_init_reference_points.npy lets the tests match queries whose encoder scores tie (random
weights make many), and pixel_values.npy is stored as uint8 (it is exactly k/255 in
float32: the test multiplies back by rescale_factor and gets identical floats).

Usage: /usr/bin/python3 tools/make_golden_fixtures.py [SHARED_GOLDEN_DIR]
Needs numpy (Debian: python3-numpy)."""
import os
import shutil
import sys

import numpy as np

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "golden")
dst = os.path.join(root, "tests", "fixtures", "golden")
models = {
    "rtdetrv2-tiny": ["input.png", "detections.json"],
    "rtdetrv2-tiny-480": [],
    "dfine-tiny": [],
    "dfine-tiny-proj": [],
}
for name, extra in models.items():
    s, d = os.path.join(src, name), os.path.join(dst, name)
    if not os.path.isdir(s):
        continue
    os.makedirs(d, exist_ok=True)
    for f in ["config.json", "preprocessor_config.json", "model.safetensors",
              "out_logits.npy", "out_pred_boxes.npy", "out_init_reference_points.npy", "out_enc_topk_logits.npy"] + extra:
        shutil.copyfile(os.path.join(s, f), os.path.join(d, f))
    pv = np.load(os.path.join(s, "pixel_values.npy"))
    u8 = np.round(pv * 255).astype(np.uint8)
    assert (u8.astype(np.float32) * np.float32(0.00392156862745098) == pv).all()
    np.save(os.path.join(d, "pixel_values_u8.npy"), u8)
    print("wrote", d)
