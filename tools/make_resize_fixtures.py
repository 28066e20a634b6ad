#!/usr/bin/python3
"""Make tests/fixtures/resize/: small noisy RGB sources (NAME_src.png) and what Pillow's
Image.resize(size, Image.BILINEAR) makes of them (NAME_WxH.png, RGB), for test_resize.
Both are PNG (lossless) to keep the fixtures small; the noise is sparse for the same reason.

Run with the system Python (PIL + numpy): /usr/bin/python3 tools/make_resize_fixtures.py
Deterministic: the same files come out every time for a given Pillow.
"""
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "resize")

# (name, source width, source height, output width, output height)
CASES = [
    ("letter", 612, 792, 640, 640),      # Docling's Letter page: upscale x, downscale y
    ("small_up", 37, 53, 640, 640),      # strong upscale, odd sizes
    ("wide_strip", 1001, 3, 17, 640),    # strong downscale x, strong upscale y
    ("tall_strip", 3, 2000, 640, 640),   # strong upscale x, strong downscale y
    ("identity", 640, 640, 640, 640),    # no pass at all: a copy
    ("half", 1280, 1280, 640, 640),      # exact 2x downscale
    ("near", 641, 639, 640, 640),        # one pixel either way
    ("only_x", 300, 200, 123, 200),      # horizontal pass only
    ("only_y", 200, 300, 200, 77),       # vertical pass only
]


def source(seed, w, h):
    """Smooth gradients + blocks + sparse noise: edges and flat regions, like a page."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float64)
    img[..., 0] = 255 * x / max(w - 1, 1)
    img[..., 1] = 255 * y / max(h - 1, 1)
    img[..., 2] = 128 + 100 * np.sin(x / 7.0 + y / 11.0)
    img[(x // 16 + y // 16) % 5 == 0] = 0
    speckle = rng.random((h, w)) < 0.02
    img[speckle] = rng.integers(0, 256, (int(speckle.sum()), 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, (name, sw, sh, ow, oh) in enumerate(CASES):
        src = Image.fromarray(source(seed, sw, sh), "RGB")
        src.save(os.path.join(OUT, f"{name}_src.png"), optimize=True)
        out = np.asarray(src.resize((ow, oh), Image.BILINEAR))
        assert out.shape == (oh, ow, 3) and out.dtype == np.uint8
        if (sw, sh) == (ow, oh):
            assert (out == np.asarray(src)).all()  # the test compares with the source
            continue
        Image.fromarray(out, "RGB").save(os.path.join(OUT, f"{name}_{ow}x{oh}.png"), optimize=True)


if __name__ == "__main__":
    main()
