#!/usr/bin/env python3
"""Print the characters kept in hpi's bundled font subset (see hpi/fonts/README.md).

GB2312 (symbol rows 1-9, hanzi levels 1 and 2), Latin and CJK punctuation blocks, kana, fullwidth forms;
with the argument `jis`, JIS X 0208 level-1 kanji too (Japanese kanji missing from GB2312).
"""
import sys

EXTRA_BLOCKS = [(0x20, 0x7E), (0xA0, 0xFF), (0x100, 0x17F), (0x2000, 0x206F), (0x20A0, 0x20BF),
                (0x3000, 0x303F), (0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF00, 0xFFEF)]


def decode_rows(rows, first_byte_offset, trail_bytes, encoding):
    chars = []
    for row in rows:
        for trail in trail_bytes:
            try:
                chars.append(bytes([row + first_byte_offset, trail]).decode(encoding))
            except UnicodeDecodeError:
                pass
    return chars


def charset(with_jis: bool) -> set:
    chars = set(decode_rows(range(1, 10), 0xA0, range(0xA1, 0xFF), "gb2312"))   # symbols, kana, Greek ...
    chars |= set(decode_rows(range(16, 88), 0xA0, range(0xA1, 0xFF), "gb2312"))  # hanzi levels 1 and 2
    for first, last in EXTRA_BLOCKS:
        chars |= {chr(code) for code in range(first, last + 1)}
    if with_jis:  # JIS X 0208 level-1 kanji rows 16-47, read through EUC-JP
        chars |= set(decode_rows(range(16, 48), 0xA0, range(0xA1, 0xFF), "euc_jp"))
    return chars


if __name__ == "__main__":
    sys.stdout.write("".join(sorted(charset(len(sys.argv) > 1 and sys.argv[1] == "jis"))))
