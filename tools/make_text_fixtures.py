#!/usr/bin/python3
"""Make the text fixtures: small PDFs of right-to-left, mixed-direction and ligature text,
each with the text it was made from, for tests/test_text.c.

    /usr/bin/python3 tools/make_text_fixtures.py [OUT_DIR]   (default tests/fixtures/text)

Debian's python3-gi, gir1.2-pango-1.0, python3-gi-cairo and python3-cairo (scripts/
install-deps.sh --fixtures) and the DejaVu fonts (fonts-dejavu-core). Pango shapes each line
with HarfBuzz (Arabic joining, the lam-alef ligature, marks) and lays it out by the Unicode
bidi algorithm; cairo writes the glyphs in visual order with a ToUnicode map from the
clusters, as most PDF producers do: one glyph for lam-alef maps to two code points.

Each fixture NAME.pdf has NAME.txt beside it: one line of the PDF per line, in logical
order, the string that was laid out in NFC (HarfBuzz draws e + U+0301 as the one glyph of é,
whose ToUnicode entry is U+00E9; marks without a precomposed letter stay separate glyphs). The pages are fixed, so the PDFs only change
when this script or the fonts do (cairo writes no date: CAIRO_PDF_METADATA_CREATE_DATE is
set to a fixed value)."""
import os
import sys
import unicodedata

import gi

gi.require_version("Pango", "1.0")
gi.require_version("PangoCairo", "1.0")
import cairo  # noqa: E402
from gi.repository import Pango, PangoCairo  # noqa: E402

FIXTURES = {
    # Arabic: joining forms, lam-alef (لا, الأ, السلام), a digit run, a Latin word, harakat
    "arabic": [
        "السلام عليكم ورحمة الله",
        "لا أعرف الإجابة الآن",
        "ولد في عام 2024 في المدينة",
        "برنامج Docling لتحليل المستندات",
        "مُحَمَّدٌ رَسُولُ اللَّهِ",
        "الصفحة 12 من 345",
    ],
    # Hebrew: final forms, a number, a Latin word, niqqud (combining marks)
    "hebrew": [
        "שלום עולם ומה שלומך היום",
        "הספר נכתב בשנת 1948 בירושלים",
        "התוכנה Docling ממירה מסמכים",
        "בְּרֵאשִׁית בָּרָא אֱלֹהִים",
    ],
    # Persian: پ چ ژ گ, ZWNJ inside words (می‌خواهم), Persian digits, lam-alef
    "persian": [
        "من می‌خواهم کتاب بخوانم",
        "پدر و مادر در باغ گل‌ها را دیدند",
        "سال ۱۴۰۲ سال خوبی بود",
        "این لایه از متن فارسی است",
    ],
    # left-to-right paragraphs with right-to-left words inside, and the other way round
    "mixed": [
        "The word שלום means peace",
        "Arabic السلام عليكم is a greeting",
        "نص عربي with English words في الوسط",
        "Version 3.2 של התוכנה",
    ],
    # Latin ligatures (fi, fl, ffi, ffl) and combining marks on Latin letters
    "ligatures": [
        "office affluent fish flower",
        "efficient waffle shuffle",
        "cafe\u0301 nai\u0308ve re\u0301sume\u0301",
        "Tie\u0302\u0301ng Vie\u0323\u0302t",
        "q\u0303uiet x\u0301 and n\u0331ame",
    ],
}

WIDTH, LINE, MARGIN, SIZE = 420, 30, 36, 14


def make(path, lines):
    height = MARGIN * 2 + LINE * len(lines)
    surface = cairo.PDFSurface(path, WIDTH, height)
    surface.set_metadata(cairo.PDF_METADATA_CREATE_DATE, "2026-01-01T00:00:00Z")
    cr = cairo.Context(surface)
    cr.set_source_rgb(0, 0, 0)
    for i, text in enumerate(lines):
        layout = PangoCairo.create_layout(cr)
        layout.set_font_description(Pango.FontDescription.from_string("DejaVu Sans %d" % SIZE))
        layout.set_width((WIDTH - 2 * MARGIN) * Pango.SCALE)
        layout.set_auto_dir(True)  # the paragraph's direction from its first strong letter
        layout.set_text(text, -1)
        # right-to-left paragraphs are right-aligned (Pango does this with auto_dir)
        cr.move_to(MARGIN, MARGIN + i * LINE)
        PangoCairo.show_layout(cr, layout)
        if layout.get_line_count() != 1:
            sys.exit("%s: line %d wraps" % (path, i + 1))
    surface.finish()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "fixtures", "text")
    os.makedirs(out, exist_ok=True)
    for name, lines in FIXTURES.items():
        make(os.path.join(out, name + ".pdf"), lines)
        with open(os.path.join(out, name + ".txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(unicodedata.normalize("NFC", t) for t in lines) + "\n")
        print("%s/%s.pdf: %d lines" % (out, name, len(lines)))


if __name__ == "__main__":
    main()
