#!/usr/bin/env python3
"""Training pages laid out by a real layout engine: headless Chromium renders HTML pages built
from templates of the kinds DocLayNet covers (reports, manuals, articles, laws, patents), with
real text from Debian's own documentation and real fonts; every element's box is read from the
DOM after layout, so the labels are exact.

    /usr/bin/python3 training/chromium_pages.py --out DIR --count 400 --seed 1 [--jobs 3]

Writes DIR/images/NNNNNN.png (96 dpi: letter 816x1056 or A4 794x1123) and DIR/annotations.json
in the generator's format (COCO, category ids = heron's 17 label ids), which training/train.py
mixes in with --extra DIR. Deterministic for a seed, the fonts and the texts installed.
Needs Debian's `chromium` (scripts/install-deps.sh --training).

Boxes: text elements are boxed tightly around their line boxes (a DOM Range over the contents),
pictures, tables and formulas by their element. Elements that do not fit on the page are removed
before the boxes are read (the same script runs before the screenshot). Code listings are left
out: DocLayNet labels them Text while the generator's Code class is Docling's.
"""
import argparse
import glob
import gzip
import html
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

LABELS = ["Caption", "Footnote", "Formula", "List-item", "Page-footer", "Page-header", "Picture",
          "Section-header", "Table", "Text", "Title", "Document Index", "Code",
          "Checkbox-Selected", "Checkbox-Unselected", "Form", "Key-Value Region"]
SERIF = ["Liberation Serif", "TeX Gyre Termes", "TeX Gyre Pagella", "TeX Gyre Bonum",
         "TeX Gyre Schola", "DejaVu Serif", "Latin Modern Roman"]
SANS = ["Liberation Sans", "TeX Gyre Heros", "TeX Gyre Adventor", "DejaVu Sans",
        "Latin Modern Sans", "DejaVu Sans Condensed", "TeX Gyre Heros Cn"]
PAGE_SIZES = [(816, 1056), (794, 1123)]  # letter, A4 at 96 dpi

# Runs in the page after layout: drop what does not fit, then record every labelled box.
MEASURE_JS = r"""
<script>
(function () {
  const pages = document.querySelectorAll('.page');
  const all = [];
  pages.forEach((page, pi) => {
    const pr = page.getBoundingClientRect();
    const body = page.querySelector('.body');
    const br = body.getBoundingClientRect();
    const items = Array.from(body.querySelectorAll('[data-label]'));
    // an element that does not fit is dropped and the rest flows up (the layout is redone at
    // each query), as a float that goes to the next page would leave room for what follows
    for (const e of items) {
      if (!e.isConnected) continue;
      const r = e.getBoundingClientRect();
      if (r.bottom > br.bottom + 0.5 || r.right > br.right + 0.5) {
        const box = e.closest('.fig, .tab, ul, ol') || e;
        (box.tagName === 'UL' || box.tagName === 'OL') ? e.remove() : box.remove();
      }
    }
    const boxes = [];
    page.querySelectorAll('[data-label]').forEach(e => {
      let r;
      if (e.dataset.tight === '1') {
        const range = document.createRange();
        range.selectNodeContents(e);
        r = range.getBoundingClientRect();
        if (e.tagName === 'LI') {  // DocLayNet's list items include their bullet or number
          const fs = parseFloat(getComputedStyle(e).fontSize);
          r = new DOMRect(r.left - 1.3 * fs, r.top, r.width + 1.3 * fs, r.height);
        }
      } else {
        r = e.getBoundingClientRect();
      }
      if (r.width < 2 || r.height < 2) return;
      boxes.push([e.dataset.label, r.left - pr.left, r.top - pr.top, r.right - pr.left,
                  r.bottom - pr.top]);
    });
    all.push(boxes);
  });
  const pre = document.createElement('pre');
  pre.id = 'dl-boxes';
  pre.style.display = 'none';
  pre.textContent = JSON.stringify(all);
  document.body.appendChild(pre);
})();
</script>
"""


def load_corpus():
    """Paragraphs and short lines from Debian's own documentation (READMEs, licences)."""
    paras, lines = [], []
    files = sorted(glob.glob("/usr/share/doc/*/README*") + glob.glob("/usr/share/doc/*/NEWS*") +
                   glob.glob("/usr/share/common-licenses/*"))
    for f in files:
        try:
            raw = gzip.open(f).read() if f.endswith(".gz") else open(f, "rb").read()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError, EOFError):
            continue
        for block in re.split(r"\n\s*\n", text):
            flat = " ".join(block.split())
            if not flat:
                continue
            letters = sum(c.isalpha() for c in flat)
            if 120 <= len(flat) <= 900 and letters > 0.7 * len(flat) and "http" not in flat[:20]:
                paras.append(flat)
            elif 12 <= len(flat) <= 70 and letters > 0.75 * len(flat):
                lines.append(flat.strip(" =-*#:"))
    return paras, [l for l in lines if l]


class Page:
    """One page's HTML, built element by element."""

    def __init__(self, rng, corpus):
        self.rng = rng
        self.paras, self.lines = corpus
        self.fig = 0
        self.tab = 0
        self.eq = 0
        self.notes = []

    def words(self, lo, hi):
        w = self.rng.choice(self.lines).split()
        n = self.rng.randint(lo, hi)
        while len(w) < n:
            w += self.rng.choice(self.lines).split()
        return html.escape(" ".join(w[:n]))

    def para(self, lo=1, hi=1):
        text = " ".join(self.rng.choice(self.paras) for _ in range(self.rng.randint(lo, hi)))
        return html.escape(text)

    def text(self):
        p = self.para()
        if self.rng.random() < 0.15:  # a footnote mark
            n = len(self.notes) + 1
            self.notes.append(n)
            cut = p.find(" ", len(p) // 2)
            if cut > 0:
                p = p[:cut] + f"<sup>{n}</sup>" + p[cut:]
        return f'<p data-label="Text" data-tight="1">{p}</p>'

    def header(self, level, numbered):
        num = ""
        if numbered:
            num = ".".join(str(self.rng.randint(1, 12)) for _ in range(level)) + " "
        return (f'<h{level + 1} data-label="Section-header" data-tight="1">{num}'
                f'{self.words(2, 8)}</h{level + 1}>')

    def list_block(self):
        ordered = self.rng.random() < 0.5
        tag = "ol" if ordered else "ul"
        style = self.rng.choice(["disc", "square", "circle", "'– '", "'• '"]) if not ordered \
            else self.rng.choice(["decimal", "lower-alpha", "lower-roman", "upper-alpha"])
        items = []
        for _ in range(self.rng.randint(2, 6)):
            t = self.para() if self.rng.random() < 0.4 else self.words(4, 22)
            items.append(f'<li data-label="List-item" data-tight="1">{t}</li>')
        return f'<{tag} style="list-style-type:{style}">{"".join(items)}</{tag}>'

    def table(self):
        r = self.rng
        rows, cols = r.randint(3, 14), r.randint(2, 7)
        style = r.choice(["grid", "booktabs", "zebra", "plain"])
        head = "".join(f"<th>{self.words(1, 3)}</th>" for _ in range(cols))
        body = []
        for _ in range(rows):
            cells = [f"<td>{self.words(1, 4)}</td>"]
            for _ in range(cols - 1):
                v = r.choice([f"{r.uniform(-999, 99999):,.{r.randint(0, 2)}f}",
                              f"{r.randint(0, 100)}%", self.words(1, 2), str(r.randint(1, 5000))])
                cells.append(f"<td>{v}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        self.tab += 1
        cap = (f'<div class="cap" data-label="Caption" data-tight="1">Table {self.tab}: '
               f'{self.words(4, 16)}</div>')
        t = (f'<table class="t-{style}" data-label="Table"><thead><tr>{head}</tr></thead>'
             f'<tbody>{"".join(body)}</tbody></table>')
        return f'<div class="tab">{cap + t if r.random() < 0.7 else t + cap}</div>'

    def svg_chart(self, w, h):
        r = self.rng
        kind = r.choice(["bars", "lines", "pie", "boxes", "photo"])
        col = lambda: f"hsl({r.randint(0, 359)},{r.randint(30, 80)}%,{r.randint(35, 65)}%)"
        parts = []
        if kind == "bars":
            n = r.randint(3, 12)
            for i in range(n):
                bh = r.uniform(0.1, 0.9) * (h - 30)
                parts.append(f'<rect x="{30 + i * (w - 40) / n:.1f}" y="{h - 20 - bh:.1f}" '
                             f'width="{(w - 40) / n * 0.7:.1f}" height="{bh:.1f}" fill="{col()}"/>')
                parts.append(f'<text x="{30 + i * (w - 40) / n:.1f}" y="{h - 5}" '
                             f'font-size="10">{2000 + i}</text>')
            parts.append(f'<line x1="28" y1="{h - 20}" x2="{w}" y2="{h - 20}" stroke="black"/>')
            parts.append(f'<line x1="28" y1="0" x2="28" y2="{h - 20}" stroke="black"/>')
        elif kind == "lines":
            for _ in range(r.randint(1, 4)):
                pts = " ".join(f"{30 + i * (w - 40) / 20:.1f},{r.uniform(10, h - 25):.1f}"
                               for i in range(21))
                parts.append(f'<polyline points="{pts}" fill="none" stroke="{col()}" '
                             f'stroke-width="2"/>')
            parts.append(f'<rect x="28" y="2" width="{w - 30}" height="{h - 22}" fill="none" '
                         f'stroke="#444"/>')
        elif kind == "pie":
            parts.append(f'<circle cx="{w / 2}" cy="{h / 2}" r="{min(w, h) / 2.4:.1f}" '
                         f'fill="{col()}"/>')
            parts.append(f'<path d="M{w / 2},{h / 2} L{w / 2},{h / 2 - min(w, h) / 2.4:.1f} '
                         f'A{min(w, h) / 2.4:.1f},{min(w, h) / 2.4:.1f} 0 0,1 '
                         f'{w / 2 + min(w, h) / 2.4:.1f},{h / 2} Z" fill="{col()}"/>')
        elif kind == "boxes":
            for _ in range(r.randint(3, 7)):
                x, y = r.uniform(0, w - 80), r.uniform(0, h - 30)
                parts.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="80" height="28" rx="4" '
                             f'fill="white" stroke="{col()}" stroke-width="2"/>')
                parts.append(f'<text x="{x + 6:.0f}" y="{y + 18:.0f}" font-size="11">'
                             f'{self.words(1, 2)}</text>')
        else:  # a "photo": soft gradients
            parts.append(f'<defs><linearGradient id="g{self.fig}" x1="0" y1="0" x2="1" y2="1">'
                         f'<stop offset="0" stop-color="{col()}"/><stop offset="1" '
                         f'stop-color="{col()}"/></linearGradient></defs>')
            parts.append(f'<rect width="{w}" height="{h}" fill="url(#g{self.fig})"/>')
            for _ in range(r.randint(2, 8)):
                parts.append(f'<ellipse cx="{r.uniform(0, w):.0f}" cy="{r.uniform(0, h):.0f}" '
                             f'rx="{r.uniform(10, w / 3):.0f}" ry="{r.uniform(10, h / 3):.0f}" '
                             f'fill="{col()}" opacity="0.6"/>')
        return (f'<svg data-label="Picture" width="{w}" height="{h}" '
                f'style="display:block;margin:0 auto">{"".join(parts)}</svg>')

    def figure(self, width):
        w = int(width * self.rng.uniform(0.45, 0.95))
        h = int(w * self.rng.uniform(0.4, 0.9))
        self.fig += 1
        cap = (f'<div class="cap" data-label="Caption" data-tight="1">'
               f'{self.rng.choice(["Figure", "Fig.", "Chart", "Abbildung", "Figura"])} '
               f'{self.fig}: {self.words(3, 24)}</div>')
        pic = self.svg_chart(w, h)
        return f'<div class="fig">{pic}{cap if self.rng.random() < 0.85 else ""}</div>'

    def formula(self):
        r = self.rng
        v = lambda: r.choice("xyzabcnkmtuvw")
        g = lambda: r.choice(["α", "β", "λ", "σ", "μ", "θ", "ω", "φ"])

        def term(depth=0):
            k = r.randint(0, 5 if depth < 2 else 1)
            if k == 0:
                return f"<msub><mi>{v()}</mi><mi>{v()}</mi></msub>"
            if k == 1:
                return f"<msup><mi>{v()}</mi><mn>{r.randint(2, 4)}</mn></msup>"
            if k == 2:
                return f"<mfrac><mrow>{term(depth + 1)}</mrow><mrow>{term(depth + 1)}</mrow></mfrac>"
            if k == 3:
                return (f"<munderover><mo>∑</mo><mrow><mi>{v()}</mi><mo>=</mo><mn>1</mn></mrow>"
                        f"<mi>N</mi></munderover>{term(depth + 1)}")
            if k == 4:
                return f"<msqrt>{term(depth + 1)}<mo>+</mo><mi>{g()}</mi></msqrt>"
            return f"<mi>{g()}</mi><mo>(</mo><mi>{v()}</mi><mo>)</mo>"
        rhs = "<mo>+</mo>".join(term() for _ in range(r.randint(1, 4)))
        self.eq += 1
        num = f'<span class="eqn">({self.eq})</span>' if r.random() < 0.7 else ""
        return (f'<div class="formula" data-label="Formula"><math display="block"><mi>{v()}</mi>'
                f'<mo>=</mo>{rhs}</math>{num}</div>')


CSS = """
body { margin: 0; background: #888; }
.page { position: relative; overflow: hidden; overflow-wrap: anywhere; background: white; color: %(ink)s;
        font-family: '%(font)s'; font-size: %(size)spx; line-height: %(lh)s; }
.body { position: absolute; left: %(ml)spx; right: %(mr)spx; top: %(mt)spx; bottom: %(mb)spx;
        overflow: hidden; column-count: %(cols)s; column-gap: 24px; column-fill: auto; }
.body > * , .fig, .tab, li { break-inside: avoid; }
p { margin: 0 0 %(pgap)spx 0; text-align: %(align)s; text-indent: %(indent)spx; hyphens: auto; }
h2, h3, h4 { font-family: '%(hfont)s'; margin: %(hgap)spx 0 6px 0; color: %(hcol)s; }
h2 { font-size: %(h2)spx; } h3 { font-size: %(h3)spx; } h4 { font-size: %(h4)spx; }
.title { font-family: '%(hfont)s'; font-size: %(tsize)spx; margin: 10px 0 14px 0;
         text-align: %(talign)s; column-span: all; }
.authors { text-align: %(talign)s; margin-bottom: 12px; column-span: all; }
ul, ol { margin: 0 0 %(pgap)spx 0; padding-left: 26px; } li { margin-bottom: 3px; }
.fig { margin: 8px 0 10px 0; } .cap { font-size: 0.88em; margin: 4px 0 8px 0;
        text-align: %(calign)s; font-style: %(cstyle)s; }
table { border-collapse: collapse; margin: 6px auto; font-size: 0.85em; }
td, th { padding: 2px 6px; text-align: left; }
.t-grid td, .t-grid th { border: 1px solid #333; }
.t-booktabs thead { border-top: 2px solid #000; border-bottom: 1px solid #000; }
.t-booktabs { border-bottom: 2px solid #000; }
.t-zebra tr:nth-child(even) { background: #e8eef6; } .t-zebra th { background: %(hcol)s; color: white; }
.formula { position: relative; margin: 6px 0 10px 0; } .eqn { position: absolute; right: 0; top: 30%%; }
.hdr, .ftr { position: absolute; left: %(ml)spx; right: %(mr)spx; font-size: 0.8em; color: #333; }
.hdr { top: %(ht)spx; } .ftr { bottom: %(ft)spx; }
.rule { border-bottom: 0.6px solid #555; }
.notes { position: absolute; left: %(ml)spx; right: %(mr)spx; bottom: %(mb2)spx; font-size: 0.78em; }
.notes div { margin-top: 2px; }
"""


def build_page(rng, corpus, kind, index):
    pg = Page(rng, corpus)
    w, h = rng.choice(PAGE_SIZES)
    serif = rng.random() < (0.75 if kind in ("article", "law", "patent") else 0.35)
    font = rng.choice(SERIF if serif else SANS)
    hfont = font if rng.random() < 0.5 else rng.choice(SANS)
    size = rng.choice([10, 11, 12, 12, 13, 14])
    cols = 2 if (kind in ("article", "patent") and rng.random() < 0.65) or rng.random() < 0.1 else 1
    ml = rng.randint(45, 110)
    mt = rng.randint(60, 110)
    has_hdr, has_ftr = rng.random() < 0.75, rng.random() < 0.75
    style = dict(
        ink=rng.choice(["#000", "#111", "#222"]), font=font, size=size, lh=rng.choice([1.2, 1.3, 1.45]),
        ml=ml, mr=ml + rng.randint(-10, 10), mt=mt, mb=mt + rng.randint(-10, 30), cols=cols,
        pgap=rng.choice([0, 4, 8, 10]), align=rng.choice(["justify", "left", "justify"]),
        indent=rng.choice([0, 0, 18]), hfont=hfont,
        hcol=rng.choice(["#000", "#000", "#1f3d7a", "#7a1f1f", "#205020"]) if kind == "report"
        else "#000", hgap=rng.choice([6, 10, 16]), h2=size + rng.randint(4, 10),
        h3=size + rng.randint(2, 5), h4=size + rng.randint(0, 2), tsize=size + rng.randint(10, 20),
        talign=rng.choice(["center", "left"]), calign=rng.choice(["center", "left", "justify"]),
        cstyle=rng.choice(["normal", "italic"]), ht=rng.randint(20, mt - 30),
        ft=rng.randint(18, 40), mb2=mt + rng.randint(-10, 30))
    colw = (w - 2 * ml - (24 if cols == 2 else 0)) // cols
    parts = []
    first = rng.random() < 0.3
    if first:
        parts.append(f'<div class="title" data-label="Title" data-tight="1">{pg.words(3, 12)}</div>')
        if rng.random() < 0.7:
            parts.append(f'<div class="authors" data-label="Text" data-tight="1">{pg.words(3, 9)}'
                         f'</div>')
    numbered = rng.random() < 0.6
    for _ in range(rng.randint(6, 22)):
        x = rng.random()
        if kind == "law":
            x *= 0.75
        if x < 0.42:
            parts.append(pg.text())
        elif x < 0.55:
            parts.append(pg.header(rng.choice([1, 1, 2, 3]), numbered))
        elif x < 0.67:
            parts.append(pg.list_block())
        elif x < 0.77:
            parts.append(pg.figure(colw))
        elif x < 0.86:
            parts.append(pg.table())
        else:
            parts.append(pg.formula() if kind in ("article", "manual", "report") or rng.random() < 0.3
                         else pg.text())
        if kind == "law" and rng.random() < 0.3:
            parts.append(f'<h3 data-label="Section-header" data-tight="1">'
                         f'{rng.choice(["Article", "Art.", "§", "Section", "Artikel"])} '
                         f'{rng.randint(1, 200)}</h3>')
    if kind == "patent":
        parts = [re.sub(r'<p data-label="Text" data-tight="1">',
                        lambda m: m.group(0) + f"[{rng.randint(1, 300):04d}] ", p, count=1)
                 for p in parts]
    deco = []
    if has_hdr:
        rule = " rule" if rng.random() < 0.5 else ""
        left = pg.words(2, 7)
        deco.append(f'<div class="hdr{rule}" style="display:flex;justify-content:space-between">'
                    f'<span data-label="Page-header" data-tight="1">{left}</span>'
                    + (f'<span data-label="Page-header" data-tight="1">{index + 1}</span>'
                       if rng.random() < 0.5 else "") + "</div>")
    if has_ftr:
        txt = rng.choice([str(index + 1), f"Page {index + 1}", f"- {index + 1} -",
                          pg.words(2, 6) + f" {index + 1}"])
        deco.append(f'<div class="ftr" style="text-align:{rng.choice(["center", "right", "left"])}">'
                    f'<span data-label="Page-footer" data-tight="1">{txt}</span></div>')
    if pg.notes:
        notes = "".join(f'<div data-label="Footnote" data-tight="1"><sup>{n}</sup> '
                        f'{pg.words(5, 30)}</div>' for n in pg.notes)
        deco.append(f'<div class="notes"><div style="width:30%;border-top:0.6px solid #333">'
                    f'</div>{notes}</div>')
        style["mb"] += 18 + 16 * len(pg.notes) + 10 * len(pg.notes)  # body stops above notes
    css = CSS % style
    return w, h, (f'<div class="page" style="width:{w}px;height:{h}px"><style scoped>{css}'
                  f'</style><div class="body">{"".join(parts)}</div>{"".join(deco)}</div>')


def render_batch(args):
    """Render a batch of pages (one Chromium launch: pages side by side in one tall window)."""
    seeds, corpus, tmp = args
    pages = []
    for s in seeds:
        rng = random.Random(s)
        kind = rng.choice(["report", "manual", "article", "law", "patent"])
        pages.append(build_page(rng, corpus, kind, rng.randint(0, 400)))
    # each page in its own iframe-free block, stacked vertically, separated by 20 px
    W = max(p[0] for p in pages)
    tops, y = [], 0
    blocks = []
    for w, h, body in pages:
        tops.append(y)
        blocks.append(f'<div style="position:absolute;left:0;top:{y}px">{body}</div>')
        y += h + 20
    doc = ('<!doctype html><html><head><meta charset="utf-8"></head><body>' + "".join(blocks) +
           MEASURE_JS + "</body></html>")
    d = tempfile.mkdtemp(dir=tmp)
    path = os.path.join(d, "p.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc)
    shot = os.path.join(d, "p.png")
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS="/dev/null")
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          "--hide-scrollbars", "--no-first-run", "--disable-extensions",
                          "--force-device-scale-factor=1", f"--window-size={W},{y}",
                          f"--screenshot={shot}", "--dump-dom", "file://" + path],
                         capture_output=True, env=env, timeout=600).stdout.decode("utf-8")
    m = re.search(r'<pre id="dl-boxes"[^>]*>(.*?)</pre>', dom, re.S)
    if not m or not os.path.exists(shot):
        shutil.rmtree(d, ignore_errors=True)
        return []
    boxes = json.loads(html.unescape(m.group(1)))
    full = Image.open(shot).convert("RGB")
    out = []
    for (w, h, _), top, bx in zip(pages, tops, boxes):
        out.append((full.crop((0, top, w, top + h)), bx))
    shutil.rmtree(d, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-launch", type=int, default=12, help="pages per Chromium launch")
    ap.add_argument("--jobs", type=int, default=3, help="Chromium launches at a time")
    a = ap.parse_args()
    if not shutil.which("chromium"):
        sys.exit("chromium_pages.py: chromium not found (scripts/install-deps.sh --training)")
    corpus = load_corpus()
    if len(corpus[0]) < 50 or len(corpus[1]) < 50:
        sys.exit("chromium_pages.py: too little text under /usr/share/doc")
    os.makedirs(os.path.join(a.out, "images"), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="dl_chromium_")
    seeds = [a.seed * 1000003 + i for i in range(a.count)]
    batches = [(seeds[i:i + a.per_launch], corpus, tmp) for i in range(0, a.count, a.per_launch)]
    coco = {"images": [], "annotations": [],
            "categories": [{"id": i, "name": n} for i, n in enumerate(LABELS)]}
    with ThreadPoolExecutor(a.jobs) as ex:
        for result in ex.map(render_batch, batches):
            for img, bx in result:
                iid = len(coco["images"]) + 1
                name = f"{iid:06d}.png"
                img.save(os.path.join(a.out, "images", name), optimize=False)
                coco["images"].append({"id": iid, "file_name": name, "width": img.width,
                                       "height": img.height})
                for label, x0, y0, x1, y1 in bx:
                    x0, y0 = max(0.0, x0), max(0.0, y0)
                    x1, y1 = min(img.width, x1), min(img.height, y1)
                    if x1 - x0 < 2 or y1 - y0 < 2:
                        continue
                    coco["annotations"].append({
                        "id": len(coco["annotations"]) + 1, "image_id": iid,
                        "category_id": LABELS.index(label),
                        "bbox": [round(x0, 1), round(y0, 1), round(x1 - x0, 1), round(y1 - y0, 1)],
                        "area": round((x1 - x0) * (y1 - y0), 1), "iscrowd": 0})
            print(f"{len(coco['images'])} pages", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(a.out, "annotations.json"), "w") as f:
        json.dump(coco, f)
    print(f"{len(coco['images'])} pages, {len(coco['annotations'])} boxes in {a.out}")


if __name__ == "__main__":
    main()
