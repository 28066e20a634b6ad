#!/usr/bin/python3
"""Make tests/fixtures/images/: tiny PNG/JPEG/TIFF files in many pixel formats, what PIL's
Image.open(f).convert("RGB") gives for each (NAME.rgb.npy, [H,W,3] uint8), and broken files
(bad_*) that a decoder must refuse cleanly. For test_image_decode.

Run with the system Python (PIL + numpy): /usr/bin/python3 tools/make_image_fixtures.py
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "images")
W, H = 23, 17  # odd sizes catch stride and row-order mistakes


def pattern(channels, seed, maxval=255, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    return rng.integers(0, maxval + 1, (H, W, channels)).astype(dtype)


def save_expected(name, rgb):
    rgb = np.asarray(rgb, np.uint8)
    assert rgb.shape == (H, W, 3) or rgb.ndim == 3
    np.save(os.path.join(OUT, name + ".rgb.npy"), rgb)


def pil_rgb(path, page=0):
    im = Image.open(path)
    im.seek(page)
    return np.asarray(im.convert("RGB"))


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width, height, bit_depth, color_type, rows_bytes):
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\0" + r for r in rows_bytes)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    # --- PNG in every colour type, checked against PIL ---
    Image.fromarray(pattern(3, 1), "RGB").save(os.path.join(OUT, "rgb.png"))
    Image.fromarray(pattern(4, 2), "RGBA").save(os.path.join(OUT, "rgba.png"))
    Image.fromarray(pattern(1, 3)[..., 0], "L").save(os.path.join(OUT, "grey.png"))
    Image.fromarray(pattern(2, 4), "LA").save(os.path.join(OUT, "grey_alpha.png"))
    pal = Image.fromarray(pattern(1, 5, 15)[..., 0], "L").convert("P")
    pal.putpalette(list(pattern(1, 6)[0, :16, 0].repeat(3) ^ np.arange(48, dtype=np.uint8)))
    pal.info["transparency"] = 3
    pal.save(os.path.join(OUT, "palette.png"), transparency=3)
    Image.fromarray(pattern(1, 7)[..., 0] > 127).save(os.path.join(OUT, "bilevel.png"))
    Image.fromarray(pattern(3, 8), "RGB").save(os.path.join(OUT, "interlaced.png"), interlace=1)
    for name in ["rgb", "rgba", "grey", "grey_alpha", "palette", "bilevel", "interlaced"]:
        save_expected(name + ".png", pil_rgb(os.path.join(OUT, name + ".png")))
    # 16-bit RGB (PIL cannot write it): PIL reads the high byte, and so do we.
    rgb16 = pattern(3, 9, 65535, np.uint16)
    write("rgb16.png", raw_png(W, H, 16, 2, [r.astype(">u2").tobytes() for r in rgb16]))
    assert (pil_rgb(os.path.join(OUT, "rgb16.png")) == (rgb16 >> 8)).all()
    save_expected("rgb16.png", rgb16 >> 8)
    # 16-bit grey: PIL clips the "I" value at 255; we take the high byte (documented choice).
    grey16 = pattern(1, 10, 65535, np.uint16)[..., 0]
    write("grey16.png", raw_png(W, H, 16, 0, [r.astype(">u2").tobytes() for r in grey16]))
    save_expected("grey16.png", np.repeat((grey16 >> 8)[..., None], 3, axis=2))

    # --- JPEG (decoded by the same libjpeg-turbo as PIL's, so exact) ---
    smooth = np.clip(pattern(3, 11).astype(int) // 4 + np.arange(W)[None, :, None] * 8, 0, 255)
    Image.fromarray(smooth.astype(np.uint8), "RGB").save(os.path.join(OUT, "rgb.jpg"), quality=90)
    Image.fromarray(smooth[..., 1].astype(np.uint8), "L").save(os.path.join(OUT, "grey.jpg"))
    Image.fromarray(smooth.astype(np.uint8), "RGB").convert("CMYK").save(
        os.path.join(OUT, "cmyk.jpg"))
    for name in ["rgb", "grey", "cmyk"]:
        save_expected(name + ".jpg", pil_rgb(os.path.join(OUT, name + ".jpg")))

    # --- TIFF: single page, multi-page with a 1-bit CCITT G4 page ---
    Image.fromarray(pattern(3, 12), "RGB").save(os.path.join(OUT, "rgb.tif"), compression="tiff_lzw")
    save_expected("rgb.tif", pil_rgb(os.path.join(OUT, "rgb.tif")))
    pages = [Image.fromarray(pattern(3, 13), "RGB"),
             Image.fromarray(pattern(1, 14)[..., 0], "L"),
             Image.fromarray(pattern(1, 15)[..., 0] > 100).convert("1")]
    pages[0].save(os.path.join(OUT, "multipage.tif"), save_all=True, append_images=pages[1:])
    pages[2].save(os.path.join(OUT, "g4.tif"), compression="group4")
    for p in range(3):
        save_expected(f"multipage.tif.{p}", pil_rgb(os.path.join(OUT, "multipage.tif"), p))
    save_expected("g4.tif", pil_rgb(os.path.join(OUT, "g4.tif")))
    assert Image.open(os.path.join(OUT, "g4.tif")).info.get("compression") == "group4"

    # --- Broken files ---
    good_png = open(os.path.join(OUT, "rgb.png"), "rb").read()
    good_jpg = open(os.path.join(OUT, "rgb.jpg"), "rb").read()
    write("bad_truncated.png", good_png[: len(good_png) // 2])
    write("bad_truncated.jpg", good_jpg[: len(good_jpg) * 2 // 3])  # cut in the headers
    sos = good_jpg.index(b"\xff\xda")
    write("bad_truncated_scan.jpg", good_jpg[: (sos + len(good_jpg)) // 2])  # cut in the scan
    sof = good_jpg.index(b"\xff\xc0")
    corrupt = bytearray(good_jpg)
    corrupt[sof + 4] = 7  # sample precision 7: libjpeg refuses with an error, not a warning
    write("bad_corrupt.jpg", bytes(corrupt))
    huge = bytearray(good_jpg)
    huge[sof + 5: sof + 9] = struct.pack(">HH", 60000, 60000)  # 3.6 G pixels claimed
    write("bad_huge.jpg", bytes(huge))
    write("bad_random.bin", np.random.default_rng(16).integers(0, 256, 300, np.uint8).tobytes())
    write("bad_empty.png", b"")
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    idat = png_chunk(b"IDAT", zlib.compress(bytes(64)))  # far too little data, never reached
    write("bad_huge.png", b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + idat + png_chunk(b"IEND", b""))
    ihdr = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    write("bad_zero.png", b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b""))
    # TIFF whose first IFD offset points past the end of the file.
    write("bad_ifd.tif", b"II*\0" + struct.pack("<I", 1 << 20) + bytes(64))
    # TIFF whose first IFD is fine but claims 100000 x 100000 pixels.
    good_tif = bytearray(open(os.path.join(OUT, "rgb.tif"), "rb").read())
    ifd = struct.unpack("<I", good_tif[4:8])[0]
    for i in range(struct.unpack("<H", good_tif[ifd: ifd + 2])[0]):
        e = ifd + 2 + 12 * i
        tag, typ = struct.unpack("<HH", good_tif[e: e + 4])
        if tag in (256, 257):
            fmt = "<H" if typ == 3 else "<I"
            good_tif[e + 8: e + 8 + struct.calcsize(fmt)] = struct.pack(fmt, 60000 if typ == 3 else 100000)
    write("bad_huge.tif", bytes(good_tif))


if __name__ == "__main__":
    main()
