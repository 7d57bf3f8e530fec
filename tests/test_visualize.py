"""Result-image captions: every script of the model catalog drawn with real glyphs (no .notdef boxes)."""
import fnmatch
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from hpi import visualize
from hpi.visualize import (BUNDLED_FONT, FONT_DIR, SHIPPED_FONTS, Face, caption_below, caption_layout, font_codes,
                           split_runs)

REPO = Path(__file__).resolve().parents[1]
TOFU = "\U000f0000"  # a private-use code point no font has: drawn as the .notdef box
# A sample of each script the catalog's models read (configs/models.yaml languages).
SAMPLES = {
    "Simplified Chinese": "绿洲仕格维花园公寓",
    "Traditional Chinese": "臺灣銀行繁體測試：鬱",
    "Korean": "안녕하세요 한국어 텍스트",
    "Japanese": "こんにちは、カタカナ漢字",
    "Vietnamese": "Tiếng Việt: người, đường, Ỹ",
    "Eastern European": "Zażółć gęślą jaźń, Čeština Ř, Română ș",
    "Cyrillic": "Съешь же ещё, Қазақ, Ўзбек, Її",
    "Greek": "Ελληνικά: ἀρχή, ὁδός, ΐ, ᾯ",
    "Arabic": "مرحبا بالعالم",
    "Persian": "فارسی گچپژ",
    "Urdu": "اردو ٹھیک ہے ں",
    "Uyghur": "ئۇيغۇرچە",
    "Devanagari": "नमस्ते दुनिया क्षत्रिय",
    "Tamil": "வணக்கம் தமிழ்",
    "Telugu": "తెలుగు భాష",
    "Kannada": "ಕನ್ನಡ ಭಾಷೆ",
    "Thai": "ภาษาไทย สวัสดีครับ",
    "Georgian": "ქართული ენა",
    "Coptic (in the PP-OCRv5 dictionary)": "Ϣϣ Ϧ Ⲁⲃ",
    "Symbols": "→ ≥ ∑ ① 𝐀 ⟨✔⟩ 🄰 ⯑",
}
SHIPPED = {Face(str(path)) for path in SHIPPED_FONTS}


@pytest.fixture(autouse=True)
def no_font_override(monkeypatch):
    for name in visualize.FONT_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def white(width=300, height=40):
    return np.full((height, width, 3), 255, np.uint8)


def strip_of(text, width=300):
    return np.asarray(caption_below(white(width), text))[40:]


@pytest.mark.parametrize("script", SAMPLES)
def test_each_character_is_in_the_cmap_of_a_shipped_font_chosen_for_it(script):
    runs = split_runs(SAMPLES[script])
    assert "".join(run.text for run in runs) == SAMPLES[script]
    for run in runs:
        assert run.face in SHIPPED, (run, "drawn with a system font: the shipped fonts miss it")
        missing = [char for char in run.text if ord(char) not in font_codes(run.face)]
        assert not missing, (script, run.face.path, missing)


@pytest.mark.parametrize("script", SAMPLES)
def test_each_glyph_has_ink_and_is_not_the_notdef_box(script):
    for run in split_runs(SAMPLES[script]):
        font = visualize.face_font(run.face, 40)
        notdef = font.getmask(TOFU)
        for char in set(run.text) - {" "}:
            mask = font.getmask(char)
            assert mask.getbbox() is not None, (script, char)
            assert mask.size != notdef.size or bytes(mask) != bytes(notdef), (script, char, run.face.path)


@pytest.mark.parametrize("script", SAMPLES)
def test_caption_of_each_character_differs_from_a_tofu_caption(script):
    # Fails on a single-font caption: a character that font lacks is drawn as the same box as TOFU.
    tofu = strip_of(TOFU)
    for char in set(SAMPLES[script]) - {" "}:
        strip = strip_of(char)
        assert (strip < 100).any(), (script, char)
        assert strip.shape != tofu.shape or not np.array_equal(strip, tofu), (script, char)


def test_all_scripts_in_one_caption_leave_ink_under_every_run():
    text = " ".join(SAMPLES.values())
    width = 2400
    image = np.asarray(caption_below(white(width), text).convert("L"))
    strip = image[40:]
    size, placed, _, _ = caption_layout(text, width)
    assert len({p.run.face for p in placed}) == len(SHIPPED)  # every shipped font drawn
    for x, run_width, run, _ in placed:
        if run.text.strip():
            assert (strip[:, int(x):int(np.ceil(x + run_width))] < 100).any(), run


def test_right_to_left_arabic_reads_right_to_left():
    alef_then_waws = "\u0627\u0648\u0648\u0648"  # the tall alef comes first, so it is drawn rightmost
    strip = (strip_of(alef_then_waws) < 100).any(axis=2)
    rows, cols = np.nonzero(strip)
    top_cols = cols[rows == rows.min()]
    assert top_cols.min() > (cols.min() + cols.max()) / 2
    # the score after Arabic text stays on the right, as in a left-to-right caption
    runs = visualize.visual_order(split_runs("\u0645\u0631\u062d\u0628\u0627 (0.98)"))
    assert runs[0].rtl and runs[-1].text.endswith("(0.98)") and not runs[-1].rtl


@pytest.mark.skipif(not visualize.has_raqm(), reason="Pillow without libraqm: no shaping")
def test_raqm_shapes_arabic_joining_and_devanagari_conjuncts():
    arabic = visualize.face_font(Face(str(FONT_DIR / "NotoSansArabic-Regular-subset.ttf")), 40)
    beh = "\u0628"
    assert arabic.getlength(beh * 3, direction="rtl") < 3 * arabic.getlength(beh, direction="rtl")
    devanagari = visualize.face_font(Face(str(FONT_DIR / "NotoSansDevanagari-Regular-subset.ttf")), 40)
    assert devanagari.getlength("क्ष") < devanagari.getlength("क") + devanagari.getlength("ष")


def test_without_raqm_every_script_still_shows_glyphs(monkeypatch):
    monkeypatch.setattr(visualize, "has_raqm", lambda: False)
    visualize.face_font.cache_clear()
    try:
        for script in ("Arabic", "Devanagari", "Thai", "Korean"):
            assert (strip_of(SAMPLES[script]) < 100).any()
        test_right_to_left_arabic_reads_right_to_left()
    finally:
        monkeypatch.undo()
        visualize.face_font.cache_clear()


@pytest.mark.parametrize("variable", ["HPI_FONT_PATH", "PADDLE_PDX_LOCAL_FONT_FILE_PATH"])
def test_env_font_is_tried_first(monkeypatch, variable):
    assert split_runs("abc")[0].face.path == str(SHIPPED_FONTS[0])
    monkeypatch.setenv(variable, str(BUNDLED_FONT))
    assert visualize.font_path() == str(BUNDLED_FONT)
    assert [run.face.path for run in split_runs("abc")] == [str(BUNDLED_FONT)]  # not Noto Sans any more
    thai = split_runs("abc ไทย")
    assert thai[-1].face.path.endswith("NotoSansThai-Regular-subset.ttf")  # what it lacks: the shipped fonts
    monkeypatch.setenv(variable, "/no/such/font.ttf")
    assert visualize.font_path() == str(BUNDLED_FONT)


@pytest.mark.parametrize("use_fc_list", [True, False])
def test_characters_no_shipped_font_has_come_from_system_fonts(monkeypatch, use_fc_list):
    hebrew = "\u05e9\u05dc\u05d5\u05dd"
    assert not any(ord(hebrew[0]) in font_codes(face) for face in SHIPPED)
    if not use_fc_list:
        monkeypatch.setattr(visualize.shutil, "which", lambda name: None)
    monkeypatch.setattr(visualize, "_system_faces", [])
    visualize.system_face_for.cache_clear()
    try:
        face = visualize.system_face_for(hebrew[0])
        if face is None:
            pytest.skip("no system font with Hebrew here")
        runs = split_runs(hebrew + " (0.9)")
        assert runs[0].face == face and runs[0].rtl and all(ord(c) in font_codes(face) for c in hebrew)
        assert (strip_of(hebrew) < 100).any()
    finally:
        visualize.system_face_for.cache_clear()


def test_eight_threads_drawing_at_once_from_cold_caches_draw_what_one_thread_draws(monkeypatch):
    """Result images are drawn by serving's and batch's worker threads: the font, coverage and system-font caches
    are filled by whichever thread comes first."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"{text} (0.98)" for text in SAMPLES.values()] + [" ".join(SAMPLES.values()), TOFU,
                                                                "\u05e9\u05dc\u05d5\u05dd (0.9)"]  # Hebrew: system

    def draw_all(start=0):
        order = texts[start:] + texts[:start]  # each thread starts on another font
        drawn = {text: np.asarray(caption_below(white(), text)) for text in order}
        return [drawn[text] for text in texts]

    expected = draw_all()
    for cache in (visualize.font_codes, visualize.face_font, visualize.system_face_for):
        cache.cache_clear()
    monkeypatch.setattr(visualize, "_system_faces", [])
    monkeypatch.setattr(visualize, "_scanned_files", [])
    threads = 8
    start_together = threading.Barrier(threads)

    def draw_in_thread(index):
        start_together.wait()
        return draw_all(index * len(texts) // threads)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(draw_in_thread, range(threads)))
    for drawn in results:
        for text, image, reference in zip(texts, drawn, expected):
            assert image.shape == reference.shape and np.array_equal(image, reference), text
    assert len(visualize._system_faces) <= 1  # one search found the Hebrew font; others waited for it


def test_font_codes_reads_format_4_and_12_cmaps():
    latin = font_codes(Face(str(FONT_DIR / "NotoSans-Regular-subset.ttf")))
    assert {ord("A"), ord("ệ"), ord("ᾯ"), ord("Ж")} <= latin and ord("中") not in latin
    math = font_codes(Face(str(FONT_DIR / "NotoSansMath-Regular-subset.ttf")))
    assert 0x1D400 in math  # 𝐀, beyond the BMP: a format 12 subtable
    assert font_codes(Face(str(FONT_DIR / "OFL.txt"))) == frozenset()


def test_long_caption_shrinks_to_fit_the_width():
    text = "很长的一行文字 long line ภาษาไทย " * 6
    size, placed, _, _ = caption_layout(text, 300)
    assert sum(p.width for p in placed) <= 300 or size == visualize.MIN_FONT_SIZE
    size, placed, _, _ = caption_layout("短", 300)
    assert size == int(300 * 0.06)
    image = caption_below(white(), "绿洲 (0.98)")
    assert image.mode == "RGB" and image.width == 300 and image.height > 40
    assert (np.asarray(image)[:40] == 255).all()  # the input image is untouched above the strip


def test_caption_is_cheap():
    image = white(320, 48)
    texts = list(SAMPLES.values())
    for text in texts:
        caption_below(image, f"{text} (0.98)")
    times = []
    for text in texts * 3:
        start = time.perf_counter()
        caption_below(image, f"{text} (0.98)")
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.010, times


def test_catalog_dictionaries_letters_are_all_covered():
    covered = set().union(*(font_codes(face) for face in SHIPPED))
    checked = 0
    for yml in sorted((REPO / ".cache" / "test_models").glob("*/inference.yml")):
        loaded = yaml.load(yml.read_text("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        chars = (loaded.get("PostProcess") or {}).get("character_dict")
        if chars is None:  # detection and orientation models have no dictionary
            continue
        letters = {c for c in chars if c.isalpha() and ord(c) < 0x20000}  # CJK extension B and beyond: system
        assert not sorted(c for c in letters if ord(c) not in covered), yml.parent.name
        checked += 1
    if not checked:
        pytest.skip("test models not fetched")


def test_wheel_package_data_holds_every_font():
    tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
    config = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    assert "hpi.fonts" in config["packages"]
    patterns = config["package-data"]["hpi.fonts"]
    data = [p for p in FONT_DIR.iterdir() if p.is_file() and p.suffix != ".py"]
    assert {p.name for p in data} >= {path.name for path in SHIPPED_FONTS} | {"OFL.txt", "README.md"}
    for path in data:
        assert any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns), path.name


EXTREME = [(16, 1_000_000), (8, 200_000), (200_000, 8)]  # (height, width): accepted, then undrawable before
# The OCR pipeline's crops are warped by OpenCV, which takes no side of 32,767 px or more (cv2.error): wide and tall
# images below that, whose two-panel drawings were still too wide for WebP (16,383 px)
OCR_EXTREME = [(16, 30_000), (30_000, 16)]


@pytest.fixture(scope="module")
def extreme_lines():
    """Real text lines stretched to the extreme shapes: ink the models read, not noise."""
    import cv2

    from hpi.tasks.text_recognition.textlines import render_lines

    line = render_lines(1, seed=0)[0][0]
    return {shape: cv2.resize(line, shape[::-1], interpolation=cv2.INTER_NEAREST) for shape in EXTREME + OCR_EXTREME}


def _drawn_and_saved(result, key, tmp_path):
    """The result's drawing, after checking it is within the bounds and saves to a file that reads back."""
    from PIL import Image

    image = result.img[key]
    assert max(image.size) <= visualize.MAX_DRAWN_SIDE and image.width * image.height <= visualize.MAX_DRAWN_PIXELS
    for suffix in (".png", ".jpg", ".webp"):
        saved = result.save_to_img(tmp_path / f"drawn{suffix}")
        with Image.open(saved) as back:
            assert back.size == image.size
    return image


@pytest.mark.parametrize("shape", EXTREME)
def test_recognition_of_an_extreme_line_draws_scaled_down(models_root, shared_predictor, extreme_lines, shape,
                                                          tmp_path):
    """A 1,000,000 x 16 line asked Pillow for a 60,000 px caption font (OSError), a 200,000 x 8 one for a 1.8 G
    pixel canvas (DecompressionBombError)."""
    from hpi import TextRecognition

    model = shared_predictor(TextRecognition, model_dir=models_root / "PP-OCRv6_tiny_rec", use_hpip=True)
    (result,) = model.predict(extreme_lines[shape], max_image_pixels=0)
    image = _drawn_and_saved(result, "res", tmp_path)
    height, width = shape
    assert (image.width == visualize.MAX_DRAWN_SIDE) == (width > height)  # the long side shrunk to the bound
    assert (image.height == visualize.MAX_DRAWN_SIDE) == (height > width)


@pytest.mark.parametrize("shape", OCR_EXTREME)
def test_the_ocr_pipeline_and_detection_draw_an_extreme_image_scaled_down(shared_predictor, ocr_dirs, extreme_lines,
                                                                         shape, tmp_path):
    from hpi import OCR, TextDetection

    dirs = ocr_dirs["onnx"]
    pipeline = shared_predictor(OCR, **dirs, device="cpu", use_hpip=True)
    (result,) = pipeline.predict(extreme_lines[shape], max_image_pixels=0)
    image = _drawn_and_saved(result, "ocr_res_img", tmp_path / "ocr")
    assert max(image.size) >= visualize.MAX_DRAWN_SIDE - 1  # two panels side by side: the long side at the bound
    (orientation,) = pipeline.textline_orientation_model.predict(extreme_lines[shape], max_image_pixels=0)
    _drawn_and_saved(orientation, "res", tmp_path / "orientation")
    model = shared_predictor(TextDetection, model_dir=dirs["text_detection_model_dir"], device="cpu", use_hpip=True)
    (detected,) = model.predict(extreme_lines[shape], max_image_pixels=0)
    _drawn_and_saved(detected, "res", tmp_path / "det")
