"""Rebuild the font subsets in this folder (a maintainer's tool: hpi never imports it; needs fontTools).

    python hpi/fonts/build_subsets.py --noto-core DIR --noto-cjk FILE.ttc --dicts DICT.txt ... [--out hpi/fonts]

DIR holds Debian's fonts-noto-core TrueType fonts (/usr/share/fonts/truetype/noto), FILE.ttc is
NotoSansCJK-Regular.ttc of fonts-noto-cjk; the DICT files are PaddleOCR character dictionaries (one
character per line), whose CJK characters the CJK subset keeps. See README.md for the versions used.
"""
from __future__ import annotations

import argparse
from pathlib import Path

# Characters every script font keeps so that spaces, digits and punctuation inside a run stay in its font.
NEUTRAL = [(0x20, 0x40), (0x5B, 0x60), (0x7B, 0x7E), (0xA0, 0xA0), (0xAB, 0xAB), (0xBB, 0xBB), (0x2000, 0x206F),
           (0x25CC, 0x25CC)]
# (output file, source file in fonts-noto-core, Unicode ranges besides NEUTRAL)
SCRIPT_FONTS = [
    ("NotoSans-Regular-subset.ttf", "NotoSans-Regular.ttf", [  # Latin, Greek, Cyrillic
        (0x20, 0x7E), (0xA0, 0x36F), (0x370, 0x3FF), (0x400, 0x52F), (0x1AB0, 0x1AFF), (0x1C80, 0x1C8F),
        (0x1D00, 0x1DFF), (0x1E00, 0x1EFF), (0x1F00, 0x1FFF), (0x2070, 0x20CF), (0x2100, 0x218F), (0x2C60, 0x2C7F),
        (0x2DE0, 0x2DFF), (0xA640, 0xA69F), (0xA720, 0xA7FF), (0xAB30, 0xAB6F), (0xFB00, 0xFB06)]),
    ("NotoSansArabic-Regular-subset.ttf", "NotoSansArabic-Regular.ttf", [
        (0x600, 0x6FF), (0x750, 0x77F), (0x870, 0x89F), (0x8A0, 0x8FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)]),
    ("NotoSansDevanagari-Regular-subset.ttf", "NotoSansDevanagari-Regular.ttf", [
        (0x900, 0x97F), (0x1CD0, 0x1CFF), (0x20B9, 0x20B9), (0xA8E0, 0xA8FF)]),
    ("NotoSansTamil-Regular-subset.ttf", "NotoSansTamil-Regular.ttf", [(0xB80, 0xBFF), (0x11FC0, 0x11FFF)]),
    ("NotoSansTelugu-Regular-subset.ttf", "NotoSansTelugu-Regular.ttf", [(0xC00, 0xC7F)]),
    ("NotoSansKannada-Regular-subset.ttf", "NotoSansKannada-Regular.ttf", [(0xC80, 0xCFF)]),
    ("NotoSansThai-Regular-subset.ttf", "NotoSansThai-Regular.ttf", [(0xE00, 0xE7F)]),
    ("NotoSansGeorgian-Regular-subset.ttf", "NotoSansGeorgian-Regular.ttf", [
        (0x10A0, 0x10FF), (0x1C90, 0x1CBF), (0x2D00, 0x2D2F)]),
    ("NotoSansCoptic-Regular-subset.ttf", "NotoSansCoptic-Regular.ttf", [(0x3E2, 0x3EF), (0x2C80, 0x2CFF)]),
    # Symbols in PP-OCRv5/v6 dictionaries: arrows, mathematical operators and letters, technical, dingbats.
    ("NotoSansMath-Regular-subset.ttf", "NotoSansMath-Regular.ttf", [
        (0x2100, 0x23FF), (0x25A0, 0x25FF), (0x27C0, 0x2BFF), (0x1D400, 0x1D7FF)]),
    ("NotoSansSymbols-Regular-subset.ttf", "NotoSansSymbols-Regular.ttf", [
        (0x2100, 0x27BF), (0x1F100, 0x1F1FF)]),
    ("NotoSansSymbols2-Regular-subset.ttf", "NotoSansSymbols2-Regular.ttf", [
        (0x2100, 0x27BF), (0x2B00, 0x2BFF)]),
]
CJK_FONT = "NotoSansCJKsc-Regular-subset.otf"
CJK_FACE = 2  # Simplified Chinese face of NotoSansCJK-Regular.ttc (its cmap is the same in every face)
CJK_BLOCKS = [(0x20, 0x7E), (0xA0, 0x17F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x20A0, 0x20BF), (0x3000, 0x303F),
              (0x3040, 0x30FF), (0x3130, 0x318F), (0x31F0, 0x31FF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF)]
# Legacy national character sets whose every character is kept: GB2312, JIS X 0208, KS X 1001 (its 2,350 Hangul
# syllables), Big5 (13,000 traditional hanzi).
CJK_ENCODINGS = {"gb2312": range(0xA1, 0xFF), "euc_jp": range(0xA1, 0xFF), "euc_kr": range(0xA1, 0xFF),
                 "big5": [*range(0x40, 0x7F), *range(0xA1, 0xFF)]}


def code_points(ranges) -> set:
    return {code for first, last in ranges for code in range(first, last + 1)}


def encoding_chars(encoding: str, trail_bytes) -> set:
    chars = set()
    for lead in range(0x81, 0xFF):
        for trail in trail_bytes:
            try:
                chars.add(bytes([lead, trail]).decode(encoding))
            except UnicodeDecodeError:
                pass
    return chars


def cjk_code_points(dict_files) -> set:
    chars = set()
    for encoding, trail_bytes in CJK_ENCODINGS.items():
        chars |= encoding_chars(encoding, trail_bytes)
    for path in dict_files:
        chars |= set(Path(path).read_text(encoding="utf-8").replace("\n", ""))
    return {ord(char) for char in chars} | code_points(CJK_BLOCKS)


def subset(source: Path, out: Path, unicodes: set, face: int = 0, layout_features=("*",)) -> None:
    from fontTools import subset as ft_subset
    from fontTools.ttLib import TTFont

    font = TTFont(str(source), fontNumber=face, recalcTimestamp=False)  # byte-identical rebuilds
    options = ft_subset.Options()
    options.layout_features = list(layout_features)
    options.hinting = False
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = ft_subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(unicodes & set(font.getBestCmap())))
    subsetter.subset(font)
    font.save(str(out))
    print(f"{out.name}: {len(font.getBestCmap())} characters, {out.stat().st_size:,} bytes")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noto-core", required=True, type=Path)
    parser.add_argument("--noto-cjk", required=True, type=Path)
    parser.add_argument("--dicts", nargs="*", default=[])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args(argv)
    for name, source, ranges in SCRIPT_FONTS:
        subset(args.noto_core / source, args.out / name, code_points(ranges + NEUTRAL))
    # No layout features for CJK: the glyphs are drawn one by one, as in the previous (GB2312 + JIS) subset.
    subset(args.noto_cjk, args.out / CJK_FONT, cjk_code_points(args.dicts), CJK_FACE, layout_features=())


if __name__ == "__main__":
    main()
