#!/usr/bin/env python3
"""Build the real development set (data/devset-real) from Debian's PDFs and the hand edits.

    tools/devset/make_devset.py [--dir data/devset-real] [--overlays DIR] [--only ID,...]

Inputs (committed, in --dir):
  pages.tsv   one page a line: id, PDF path, page number (1-based), Debian package, licence
  edits.txt   the hand corrections, per page (see below)
Outputs (in --dir):
  images/ID.jpg       the page at 100 dpi (pdftoppm, JPEG quality 75)
  annotations.json    COCO ground truth, category ids 0..10 = Docling's (heron's) label ids
  --overlays DIR      (optional, not committed) each page with its boxes drawn: candidates
                      numbered before the edits (ID.cand.png), final labels (ID.png)

How a page's labels are made: candidates are pre-filled from the PDF's text layer (poppler's
`pdftotext -bbox-layout` blocks: Text, or Page-header/Page-footer in the top/bottom 7% of the
page; blocks that start with a bullet are List-item) and from the ink that no text block covers
(connected regions larger than 24 px: Picture). Then edits.txt, written by looking at each
rendered page and its overlay, corrects them. Its lines:

  page ID                     the page the following lines apply to
  L CLASS N...                relabel candidates N... as CLASS
  D N...                      drop candidates N...
  M CLASS N...                replace candidates N... by one box around them, of CLASS
  X CLASS N...                replace every candidate but N... by one box around them, of CLASS
  R CLASS X0 Y0 X1 Y1         replace every candidate centred in the region by one box of CLASS
  S N K,K,... CLASS...        split text candidate N before its lines K (0-based) into parts;
                              one CLASS for all parts or one per part
  A CLASS X0 Y0 X1 Y1         add a box (pixels of the 100-dpi image)
  B N X0 Y0 X1 Y1             set candidate N's box
  ok                          the page was checked (every page must say it)

CLASS is one of DocLayNet's 11 classes, written with '-' (Section-header, List-item, ...).
Nothing here is ever used for training: it is for measuring only.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CLASSES = ["Caption", "Footnote", "Formula", "List-item", "Page-footer", "Page-header",
           "Picture", "Section-header", "Table", "Text", "Title"]
DPI = 100
SCALE = DPI / 72.0
BULLETS = ("•", "◦", "‣", "–", "-", "*", "·", "▪", "■", "□")
COLOURS = {"Caption": (230, 120, 0), "Footnote": (120, 60, 0), "Formula": (0, 150, 150),
           "List-item": (0, 90, 255), "Page-footer": (120, 120, 120),
           "Page-header": (180, 0, 180), "Picture": (0, 170, 0), "Section-header": (220, 0, 0),
           "Table": (160, 100, 220), "Text": (255, 190, 0), "Title": (0, 0, 0)}


def render(pdf, page, out_jpg):
    with tempfile.TemporaryDirectory() as tmp:
        stem = os.path.join(tmp, "p")
        subprocess.run(["pdftoppm", "-r", str(DPI), "-f", str(page), "-l", str(page), "-png",
                        "-singlefile", pdf, stem], check=True)
        img = Image.open(stem + ".png").convert("RGB")
    img.save(out_jpg, quality=75, optimize=True)
    return img


def text_blocks(pdf, page):
    """Blocks of the text layer: (box in pixels, lines [(box, text)])."""
    xml = subprocess.run(["pdftotext", "-bbox-layout", "-f", str(page), "-l", str(page), pdf,
                          "-"], check=True, capture_output=True).stdout.decode("utf-8", "replace")
    xml = xml[xml.find("<html"):] if "<html" in xml else xml
    xml = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", " ", xml)  # poppler passes control chars
    root = ET.fromstring(xml)
    blocks = []
    for el in root.iter():
        if not el.tag.endswith("block"):
            continue
        lines = []
        for ln in el:
            if not ln.tag.endswith("line"):
                continue
            words = [w.text or "" for w in ln if w.tag.endswith("word")]
            box = [float(ln.get(k)) * SCALE for k in ("xMin", "yMin", "xMax", "yMax")]
            lines.append((box, " ".join(words)))
        if lines:
            box = [min(l[0][0] for l in lines), min(l[0][1] for l in lines),
                   max(l[0][2] for l in lines), max(l[0][3] for l in lines)]
            blocks.append((box, lines))
    return blocks


def union(boxes):
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes)]


def ink_regions(img, covered):
    """Connected regions of ink not covered by text (coarse 4-px cells, 8-connected, dilated)."""
    g = np.asarray(img.convert("L"))
    h, w = g.shape
    ink = g < 200
    for b in covered:
        x0, y0, x1, y1 = (max(0, int(b[0]) - 1), max(0, int(b[1]) - 1), int(b[2]) + 2,
                          int(b[3]) + 2)
        ink[y0:y1, x0:x1] = False
    c = 4
    gh, gw = (h + c - 1) // c, (w + c - 1) // c
    pad = np.zeros((gh * c, gw * c), bool)
    pad[:h, :w] = ink
    cells = pad.reshape(gh, c, gw, c).any(axis=(1, 3))
    dil = cells.copy()  # close small gaps (plot lines, dotted rules)
    for dy in (-2, -1, 0, 1, 2):
        for dx in (-2, -1, 0, 1, 2):
            dil |= np.roll(np.roll(cells, dy, 0), dx, 1)
    seen = np.zeros_like(dil)
    regions = []
    for y in range(gh):
        for x in range(gw):
            if not dil[y, x] or seen[y, x]:
                continue
            stack = [(y, x)]
            seen[y, x] = True
            ys, xs = [], []
            while stack:
                cy, cx = stack.pop()
                if cells[cy, cx]:
                    ys.append(cy)
                    xs.append(cx)
                for ny in (cy - 1, cy, cy + 1):
                    for nx in (cx - 1, cx, cx + 1):
                        if 0 <= ny < gh and 0 <= nx < gw and dil[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            stack.append((ny, nx))
            if not ys:
                continue
            box = [min(xs) * c, min(ys) * c, (max(xs) + 1) * c, (max(ys) + 1) * c]
            if box[2] - box[0] > 24 and box[3] - box[1] > 24:
                regions.append(box)
    return regions


def inside(a, b, frac=0.8):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = max(1e-6, (a[2] - a[0]) * (a[3] - a[1]))
    return ix * iy / area >= frac


ITEM = re.compile(r"^(\(?[0-9]{1,2}[.)]|\(?[a-z][.)]|\(?[ivx]{1,4}[.)])\s")


def paragraphs(blocks):
    """Split poppler's blocks into paragraph-sized groups of lines: a new group at a vertical gap,
    a change of line height (font size), a bullet or item number, or an indented first line
    after a short one. Over-splitting is fine: edits merge (M) more easily than they split."""
    heights = sorted(l[0][3] - l[0][1] for _, lines in blocks for l in lines) or [10.0]
    med = heights[len(heights) // 2]
    gaps = sorted(b[0][1] - a[0][3] for _, lines in blocks for a, b in zip(lines, lines[1:]))
    usual = gaps[len(gaps) // 3] if gaps else 0.0  # line spacing inside paragraphs
    groups = []
    for box, lines in blocks:
        cur = [lines[0]]
        for prev, ln in zip(lines, lines[1:]):
            ph, lh = prev[0][3] - prev[0][1], ln[0][3] - ln[0][1]
            gap = ln[0][1] - prev[0][3]
            text = ln[1].strip()
            new = (gap > usual + 0.4 * med or abs(lh - ph) > 0.2 * max(lh, ph)
                   or text.startswith(BULLETS) or ITEM.match(text) is not None
                   or (abs(ln[0][0] - prev[0][0]) > 6 and prev[0][2] < box[2] - 15))
            if new:
                groups.append(cur)
                cur = []
            cur.append(ln)
        groups.append(cur)
    # a bullet set apart from its item's text (its own block) joins the text on its line
    joined, skip = [], set()
    for i, g in enumerate(groups):
        if i in skip:
            continue
        if len(g) == 1 and g[0][1].strip() in BULLETS + ("2", "–"):
            b = g[0][0]
            for j in range(len(groups)):
                o = groups[j][0][0]
                if j != i and j not in skip and o[0] > b[2] - 1 and o[0] - b[2] < 40 and \
                        min(o[3], b[3]) - max(o[1], b[1]) > 0.4 * (b[3] - b[1]):
                    groups[j] = [(union([b, groups[j][0][0]]), "• " + groups[j][0][1])] + \
                        groups[j][1:]
                    break
            else:
                joined.append(g)
            continue
        joined.append(g)
    return joined, med


def candidates(img, blocks):
    h = img.size[1]
    cands = []
    groups, med = paragraphs(blocks)
    for lines in groups:
        box = union([l[0] for l in lines])
        first = lines[0][1].strip()
        lh = max(l[0][3] - l[0][1] for l in lines)
        if box[3] < 0.08 * h:
            cls = "Page-header"
        elif box[1] > 0.92 * h:
            cls = "Page-footer"
        elif first.startswith(BULLETS) or ITEM.match(first):
            cls = "List-item"
        elif lh > 1.15 * med and len(lines) <= 2:
            cls = "Section-header"
        else:
            cls = "Text"
        cands.append({"cls": cls, "box": box, "lines": lines})
    for reg in ink_regions(img, [c["box"] for c in cands]):
        cands.append({"cls": "Picture", "box": reg, "lines": []})
    # text inside a picture region (axis labels, legends) belongs to the picture
    pics = [c["box"] for c in cands if c["cls"] == "Picture"]
    return [c for c in cands if c["cls"] == "Picture" or not any(inside(c["box"], p) for p in pics)]


def parse_edits(path):
    edits, cur = {}, None
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            tok = line.split()
            if tok[0] == "page":
                cur = tok[1]
                edits.setdefault(cur, [])
            elif cur is None:
                sys.exit(f"{path}:{n}: an edit before any 'page' line")
            else:
                edits[cur].append((n, tok))
    return edits


def check_class(name, where):
    if name not in CLASSES:
        sys.exit(f"{where}: unknown class '{name}' (one of {', '.join(CLASSES)})")
    return name


def apply_edits(cands, ops, where):
    boxes = [dict(c) for c in cands]
    dropped = set()
    added = []
    checked = False
    for n, tok in ops:
        at = f"{where}:{n}"
        op, args = tok[0], tok[1:]
        try:
            if op == "ok":
                checked = True
            elif op == "L":
                cls = check_class(args[0], at)
                for i in args[1:]:
                    boxes[int(i)]["cls"] = cls
            elif op == "D":
                dropped.update(int(i) for i in args)
            elif op == "M":
                cls = check_class(args[0], at)
                ids = [int(i) for i in args[1:]]
                added.append({"cls": cls, "box": union([boxes[i]["box"] for i in ids])})
                dropped.update(ids)
            elif op == "X":
                cls = check_class(args[0], at)
                keep = {int(i) for i in args[1:]}
                ids = [i for i in range(len(boxes)) if i not in keep and i not in dropped]
                added.append({"cls": cls, "box": union([boxes[i]["box"] for i in ids])})
                dropped.update(ids)
            elif op == "R":
                cls = check_class(args[0], at)
                r = [float(v) for v in args[1:5]]
                ids = [i for i, b in enumerate(boxes) if i not in dropped and
                       r[0] <= (b["box"][0] + b["box"][2]) / 2 <= r[2] and
                       r[1] <= (b["box"][1] + b["box"][3]) / 2 <= r[3]]
                if not ids or len(args) != 5:
                    sys.exit(f"{at}: no candidate centred in the region")
                added.append({"cls": cls, "box": union([boxes[i]["box"] for i in ids])})
                dropped.update(ids)
            elif op == "S":
                i = int(args[0])
                cuts = [int(k) for k in args[1].split(",")]
                classes = [check_class(a, at) for a in args[2:]]
                lines = boxes[i]["lines"]
                edges = [0] + cuts + [len(lines)]
                parts = [lines[a:b] for a, b in zip(edges, edges[1:])]
                if len(classes) == 1:
                    classes = classes * len(parts)
                if len(classes) != len(parts) or any(not p for p in parts):
                    sys.exit(f"{at}: split of {i} ({len(lines)} lines) does not fit")
                for cls, part in zip(classes, parts):
                    added.append({"cls": cls, "box": union([l[0] for l in part])})
                dropped.add(i)
            elif op == "A":
                added.append({"cls": check_class(args[0], at),
                              "box": [float(v) for v in args[1:5]]})
                if len(args) != 5:
                    raise ValueError
            elif op == "B":
                boxes[int(args[0])]["box"] = [float(v) for v in args[1:5]]
                if len(args) != 5:
                    raise ValueError
            else:
                sys.exit(f"{at}: unknown edit '{op}'")
        except (IndexError, ValueError):
            sys.exit(f"{at}: malformed edit '{' '.join(tok)}'")
    if not checked:
        sys.exit(f"{where}: page has no 'ok' line (every page must be checked by eye)")
    return [b for i, b in enumerate(boxes) if i not in dropped] + added


def draw(img, items, numbered, path):
    im = img.copy()
    d = ImageDraw.Draw(im)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 13)
    except OSError:
        font = ImageFont.load_default()
    for i, c in enumerate(items):
        col = COLOURS[c["cls"]]
        d.rectangle(c["box"], outline=col, width=2)
        tag = f"{i}{c['cls'][:2]}" if numbered else c["cls"]
        tx = max(0, c["box"][0] - (d.textlength(tag, font=font) + 3 if numbered else 0))
        d.rectangle([tx, c["box"][1], tx + d.textlength(tag, font=font) + 2, c["box"][1] + 14],
                    fill=(255, 255, 255))
        d.text((tx + 1, c["box"][1]), tag, fill=col, font=font)
    im.save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="data/devset-real")
    ap.add_argument("--overlays")
    ap.add_argument("--only", help="comma-separated page ids (overlays only; no annotations)")
    a = ap.parse_args()
    pages = []
    with open(os.path.join(a.dir, "pages.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                pages.append(line.rstrip("\n").split("\t"))
    edits_path = os.path.join(a.dir, "edits.txt")
    edits = parse_edits(edits_path) if os.path.exists(edits_path) else {}
    only = set(a.only.split(",")) if a.only else None
    os.makedirs(os.path.join(a.dir, "images"), exist_ok=True)
    if a.overlays:
        os.makedirs(a.overlays, exist_ok=True)
    coco = {"images": [], "annotations": [],
            "categories": [{"id": i, "name": n} for i, n in enumerate(CLASSES)]}
    for image_id, (pid, pdf, page, package, licence) in enumerate(pages, 1):
        if only and pid not in only:
            continue
        img = render(pdf, int(page), os.path.join(a.dir, "images", pid + ".jpg"))
        cands = candidates(img, text_blocks(pdf, int(page)))
        if a.overlays:
            draw(img, cands, True, os.path.join(a.overlays, pid + ".cand.png"))
        if only and pid not in edits:
            continue
        final = apply_edits(cands, edits.get(pid, []), f"{edits_path} (page {pid})")
        if a.overlays:
            draw(img, final, False, os.path.join(a.overlays, pid + ".png"))
        coco["images"].append({"id": image_id, "file_name": pid + ".jpg", "width": img.size[0],
                               "height": img.size[1], "source": f"{package}: {pdf} p. {page}",
                               "license": licence})
        for c in final:
            b = c["box"]  # clipped to the page (some PDFs set text past their edge)
            x0, y0 = round(max(0.0, b[0]), 1), round(max(0.0, b[1]), 1)
            x1, y1 = round(min(img.size[0], b[2]), 1), round(min(img.size[1], b[3]), 1)
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": image_id,
                "category_id": CLASSES.index(c["cls"]), "bbox": [x0, y0, round(x1 - x0, 1),
                                                                 round(y1 - y0, 1)],
                "area": round((x1 - x0) * (y1 - y0), 1), "iscrowd": 0})
    if not only:
        with open(os.path.join(a.dir, "annotations.json"), "w", encoding="utf-8") as f:
            json.dump(coco, f, indent=0)
            f.write("\n")
        print(f"{len(coco['images'])} pages, {len(coco['annotations'])} boxes")


if __name__ == "__main__":
    main()
