#!/usr/bin/env python3
"""Plot a training run's loss.csv (step, loss, cls, box, ctr, lr, seconds) as a PNG with Pillow.

    /usr/bin/python3 training/plot_loss.py training/runs/v1/loss.csv docs/default-model-loss.png
"""
import csv
import sys

from PIL import Image, ImageDraw

rows = [r for r in csv.reader(open(sys.argv[1])) if r and r[0].isdigit()]
steps = [int(r[0]) for r in rows]
series = {"total": [float(r[1]) for r in rows], "cls": [float(r[2]) for r in rows],
          "box (GIoU)": [float(r[3]) for r in rows], "centerness": [float(r[4]) for r in rows]}
colors = {"total": (0, 0, 0), "cls": (200, 40, 40), "box (GIoU)": (40, 90, 200), "centerness": (40, 150, 60)}
W, H, L, B = 800, 420, 60, 40
img = Image.new("RGB", (W, H), "white")
d = ImageDraw.Draw(img)
ymax = max(max(v) for v in series.values()) * 1.05
xmax = max(steps)
def px(s, v):
    return L + (W - L - 20) * s / xmax, H - B - (H - B - 20) * v / ymax
d.line([L, H - B, W - 20, H - B], fill=(0, 0, 0))
d.line([L, 20, L, H - B], fill=(0, 0, 0))
for k in range(6):
    v = ymax * k / 5
    y = px(0, v)[1]
    d.text((5, y - 6), f"{v:.2f}", fill=(0, 0, 0))
    d.line([L - 4, y, L, y], fill=(0, 0, 0))
for k in range(6):
    s = xmax * k / 5
    x = px(s, 0)[0]
    d.text((x - 10, H - B + 6), f"{int(s)}", fill=(0, 0, 0))
d.text((W // 2 - 40, H - 16), "training step", fill=(0, 0, 0))
# smooth over a window of 10 steps
for i, (name, v) in enumerate(series.items()):
    sm = [sum(v[max(0, j - 9):j + 1]) / len(v[max(0, j - 9):j + 1]) for j in range(len(v))]
    d.line([px(s, y) for s, y in zip(steps, sm)], fill=colors[name], width=2)
    d.text((W - 170, 25 + 15 * i), name, fill=colors[name])
img.save(sys.argv[2])
print("wrote", sys.argv[2])
