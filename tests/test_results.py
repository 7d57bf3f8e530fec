import json

import numpy as np
from PIL import Image

from hpi import TextRecResult
from hpi.visualize import BUNDLED_FONT, fitting_font


def make_result(input_path="dir/line.png", page_index=None, text="绿洲仕格维花园公寓", width=300):
    image = np.full((48, width, 3), 255, np.uint8)
    return TextRecResult(input_path=input_path, page_index=page_index, input_img=image, rec_text=text,
                         rec_score=0.9823867082595825)


def test_json_shape_and_print(capsys):
    result = make_result()
    assert result.json == {"res": {"input_path": "dir/line.png", "page_index": None,
                                   "rec_text": "绿洲仕格维花园公寓", "rec_score": 0.9823867082595825}}
    result.print()
    printed = json.loads(capsys.readouterr().out)
    assert printed == result.json
    result.print(format_json=True, indent=2, ensure_ascii=True)
    assert "\\u7eff" in capsys.readouterr().out


def test_save_to_json_in_a_directory_and_to_a_file(tmp_path):
    result = make_result()
    saved = result.save_to_json(tmp_path / "out")
    assert saved == tmp_path / "out" / "line_res.json"
    text = saved.read_text("utf-8")
    assert json.loads(text) == result.json["res"] and not text.endswith("\n") and "绿洲" in text
    exact = result.save_to_json(tmp_path / "res.json")
    assert exact == tmp_path / "res.json" and json.loads(exact.read_text("utf-8"))["rec_text"] == "绿洲仕格维花园公寓"
    assert not list(tmp_path.glob("**/.*"))  # no temp files left behind


def test_page_results_and_arrays_get_distinct_stems(tmp_path):
    assert make_result("a/doc.pdf", 3).save_to_json(tmp_path).name == "doc_3_res.json"
    array_result = make_result(None)
    json_path, img_path = array_result.save_to_json(tmp_path), array_result.save_to_img(tmp_path)
    assert json_path.name[:-len("_res.json")] == img_path.name[:-len("_res.png")]


def test_img_draws_caption_strip_below_the_input(tmp_path):
    result = make_result()
    image = result.img["res"]
    assert isinstance(image, Image.Image) and image.width == 300 and image.height > 48
    strip = np.asarray(image)[48:]
    assert (strip < 100).any()  # black caption text in the white strip
    saved = result.save_to_img(tmp_path)
    assert saved.name == "line_res.png" and Image.open(saved).size == image.size
    assert result.save_to_img(tmp_path / "x.jpg").suffix == ".jpg"


def test_bundled_font_has_cjk_glyphs():
    font = fitting_font("中", 300, str(BUNDLED_FONT))
    cjk = np.asarray(font.getmask("中"))
    missing = np.asarray(font.getmask("\U000f0000"))  # a private-use code point: the font's notdef box
    assert cjk.any() and (cjk.shape != missing.shape or not np.array_equal(cjk, missing))


def test_font_shrinks_to_fit_long_text():
    long_text = "很长的一行文字" * 10
    font = fitting_font(long_text, 200, str(BUNDLED_FONT))
    assert font.getbbox(long_text)[2] <= 200 or font.size == 6
