"""The page at `/` in a real headless Chromium (Selenium), against a real `hpi serve` process on loopback: pick a
line image, click Recognize, see its text, score and result image; a file that is not an image shows an error in
#error, and the page still recognizes a line afterwards. Against `hpi serve --pipeline OCR` (real detection and
recognition models) the page sends a photo to /ocr and draws its boxes and texts over it.

Needs Debian's `chromium` and `chromium-driver` (or any Chromium/Chrome with a matching chromedriver on PATH) and
the `selenium` package; skipped with the reason when one is missing. Nothing is downloaded: the driver's path is
given to Selenium, so Selenium Manager never runs. HPI_TEST_SCREENSHOT=path keeps a screenshot of the answered page.
"""
import base64
import io
import os
import shutil

import pytest
from helpers import DATA, model_dir_or_skip
from serving_helpers import ServeProcess, b64, ocr_server, post

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVERS = ("chromedriver",)


def _first_on_path(names, extra_dirs=("/usr/bin", "/usr/lib/chromium")):
    for name in names:
        found = shutil.which(name) or next((os.path.join(d, name) for d in extra_dirs
                                            if os.access(os.path.join(d, name), os.X_OK)), None)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the 'test' extra)")
    binary, driver_path = _first_on_path(BROWSERS), _first_on_path(DRIVERS)
    if binary is None:
        pytest.skip(f"no Chromium browser found ({', '.join(BROWSERS)}; Debian: apt-get install chromium)")
    if driver_path is None:
        pytest.skip("no chromedriver found (Debian: apt-get install chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1200,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page_url(models_root):
    server = ServeProcess("--model_dir", str(models_root / "PP-OCRv6_tiny_rec"), "--use_hpip", "--device", "cpu")
    try:
        yield server.url + "/"
    finally:
        code, stderr = server.stop()
        assert code == 0, stderr


def _recognize(driver, path):
    """Choose `path` in #file and click #submit; return once the request is answered (results or error)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, "file").send_keys(str(path))
    driver.find_element(By.ID, "submit").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "submit").is_enabled()
                                    and (d.find_element(By.ID, "results").text or d.find_element(By.ID, "error").text))


def _check_line_answer(driver, text):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert driver.find_element(By.ID, "error").text == ""
    rows = driver.find_elements(By.CSS_SELECTOR, "#results tr.line")
    assert len(rows) == 1
    assert rows[0].find_element(By.CSS_SELECTOR, "td.text").text == text
    score = float(rows[0].find_element(By.CSS_SELECTOR, "td.score").text)
    assert 0.5 < score <= 1.0
    image = driver.find_element(By.ID, "result-image")
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        "var i = arguments[0]; return i.complete && i.naturalWidth > 0;", image))
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    assert image.is_displayed() and image.size["width"] > 0 and image.size["height"] > 0


def test_page_recognizes_a_line_then_shows_an_error_for_a_non_image_and_still_works(browser, page_url, samples_dir,
                                                                                     tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(page_url)
    assert browser.title == "hpi text recognition"
    assert not browser.find_element(By.ID, "result-image").is_displayed()  # nothing to show yet
    assert not browser.find_element(By.ID, "endpoint").is_displayed()  # no /ocr here: no choice offered
    hello = samples_dir / "hello_world.png"

    _recognize(browser, hello)
    _check_line_answer(browser, "Hello World 2026")
    screenshot = os.environ.get("HPI_TEST_SCREENSHOT")
    if screenshot:
        browser.save_screenshot(screenshot)

    not_image = tmp_path / "notes.png"  # an image's name, text inside: the server says it is not an image
    not_image.write_text("these bytes are not an image\n", encoding="utf-8")
    _recognize(browser, not_image)
    error = browser.find_element(By.ID, "error")
    assert error.is_displayed()
    assert "not" in error.text and "image" in error.text, error.text
    assert browser.find_element(By.ID, "results").text == ""
    assert not browser.find_element(By.ID, "result-image").is_displayed()  # the previous answer's image is gone

    _recognize(browser, hello)  # the page still works
    _check_line_answer(browser, "Hello World 2026")


def test_page_shows_each_pdf_page_with_its_image_in_its_row(browser, page_url, samples_dir, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By

    pages = [Image.open(samples_dir / name).convert("RGB") for name in ("hello_world.png", "invoice_total.png")]
    pdf = tmp_path / "two pages.pdf"
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=72)
    browser.get(page_url)
    _recognize(browser, pdf)
    assert browser.find_element(By.ID, "error").text == ""
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tr.line")
    assert [row.find_elements(By.TAG_NAME, "td")[1].text for row in rows] == ["0", "1"]  # the page column
    assert rows[0].find_element(By.CSS_SELECTOR, "td.text").text == "Hello World 2026"
    for row in rows:  # each line's result image sits in its own row, the first line's being #result-image
        assert row.find_element(By.CSS_SELECTOR, "td.text img").is_displayed()
    assert rows[0].find_element(By.CSS_SELECTOR, "td.text img").get_attribute("id") == "result-image"


PHOTO = DATA / "ocr_images" / "ppocr_en_img_10.jpg"  # a street sign: three lines


@pytest.fixture(scope="module")
def ocr_page_url(ocr_dirs):
    server = ocr_server(ocr_dirs["onnx"], ready_timeout=180)
    try:
        yield server.url + "/"
    finally:
        code, stderr = server.stop()
        assert code == 0, stderr


# Per box of `polys`: its first corner's pixel on the canvas (the box's outline), and how many pixels of the text
# colour lie inside the box (its text, written there).
BOX_PIXELS = """
var canvas = arguments[0], polys = arguments[1], scale = arguments[2], ctx = canvas.getContext("2d");
return polys.map(function (poly) {
  var x = Math.round(poly[0][0] * scale), y = Math.round(poly[0][1] * scale);
  var xs = poly.map(function (p) { return p[0] * scale; }), ys = poly.map(function (p) { return p[1] * scale; });
  var left = Math.min.apply(null, xs), top = Math.min.apply(null, ys);
  var band = ctx.getImageData(left, top, Math.max.apply(null, xs) - left, Math.max.apply(null, ys) - top).data;
  var red = 0;
  for (var i = 0; i < band.length; i += 4) { if (band[i] === 192 && band[i + 1] === 0 && band[i + 2] === 0) { red++; } }
  return {corner: Array.prototype.slice.call(ctx.getImageData(x, y, 1, 1).data, 0, 3), label: red};
});
"""


def test_ocr_server_page_sends_a_photo_to_ocr_and_draws_its_boxes_and_texts(browser, ocr_page_url, samples_dir):
    """It posted every file to /text-recognition: a photo came back as one garbage line."""
    from PIL import Image
    from selenium.webdriver.common.by import By

    browser.get(ocr_page_url)
    assert browser.title == "hpi OCR"
    assert browser.find_element(By.ID, "endpoint").is_displayed()
    _recognize(browser, PHOTO)
    assert browser.find_element(By.ID, "error").text == ""
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tr.line")
    texts = [row.find_element(By.CSS_SELECTOR, "td.text").text for row in rows]
    assert texts == ["Please lower your volume", "when you pass by", "residential areas"]
    assert all(0.5 < float(row.find_element(By.CSS_SELECTOR, "td.score").text) <= 1 for row in rows)
    (canvas,) = browser.find_elements(By.CSS_SELECTOR, "#pages canvas.ocr-page")
    assert canvas.is_displayed() and canvas.get_attribute("data-boxes") == "3"
    width = Image.open(PHOTO).size[0]
    assert int(canvas.get_attribute("width")) == width  # the photo at its own size (below 2000 px)
    screenshot = os.environ.get("HPI_TEST_SCREENSHOT")
    if screenshot:
        browser.save_screenshot(screenshot.replace(".png", "") + "_ocr.png")

    code, answer = post(ocr_page_url + "ocr", {"file": b64(PHOTO), "visualize": False})
    assert code == 200
    polys = answer["result"]["ocrResults"][0]["prunedResult"]["rec_polys"]
    drawn = browser.execute_script(BOX_PIXELS, canvas, polys, 1.0)
    assert [box["corner"] for box in drawn] == [[0, 200, 83]] * 3  # each box's outline, in the box colour
    assert all(box["label"] > 30 for box in drawn), drawn  # each box's text inside it

    browser.find_element(By.CSS_SELECTOR, "#endpoint option[value='text-recognition']").click()
    _recognize(browser, samples_dir / "hello_world.png")  # one line still goes to /text-recognition
    assert browser.find_elements(By.CSS_SELECTOR, "#pages canvas") == []
    _check_line_answer(browser, "Hello World 2026")


def test_ocr_page_of_a_turned_photo_shows_the_server_drawing_of_the_turned_page(browser, models_root, ocr_dirs,
                                                                                tmp_path):
    """With the document preprocessor on, the boxes belong to the page it turned: drawn over the photo as sent they
    landed elsewhere; the page shows the server's drawing of the turned page (ocrImage) instead."""
    from PIL import Image
    from selenium.webdriver.common.by import By

    dirs = {name: ocr_dirs["onnx"][name] for name in ("text_detection_model_dir", "text_recognition_model_dir")}
    dirs["doc_orientation_classify_model_dir"] = model_dir_or_skip(models_root, "PP-LCNet_x1_0_doc_ori_rapid")
    turned = tmp_path / "turned.jpg"
    Image.open(DATA / "doc_images" / "pyreform_G38J5.jpg").rotate(90, expand=True).save(turned)  # a real page
    server = ocr_server(dirs, ready_timeout=180)
    try:
        code, answer = post(server.url + "/ocr", {"file": b64(turned)})
        entry = answer["result"]["ocrResults"][0]
        assert code == 200 and entry["docPreprocessingImage"]
        assert entry["prunedResult"]["doc_preprocessor_res"]["angle"] == 270  # turned back upright
        browser.get(server.url + "/")
        _recognize(browser, turned)
        assert browser.find_element(By.ID, "error").text == ""
        texts = [row.find_element(By.CSS_SELECTOR, "td.text").text
                 for row in browser.find_elements(By.CSS_SELECTOR, "#results tr.line")]
        assert texts == entry["prunedResult"]["rec_texts"] and len(texts) > 5
        (canvas,) = browser.find_elements(By.CSS_SELECTOR, "#pages canvas.ocr-page")
        assert canvas.get_attribute("data-boxes") == str(len(texts))
        drawing = Image.open(io.BytesIO(base64.b64decode(entry["ocrImage"])))
        assert int(canvas.get_attribute("width")) == drawing.size[0]  # the server's drawing, not the photo sent
    finally:
        code, stderr = server.stop()
        assert code == 0, stderr
