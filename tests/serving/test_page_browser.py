"""The page at `/` in a real headless Chromium (Selenium), against a real `hpi serve` process on loopback: pick a
line image, click Recognize, see its text, score and result image; a file that is not an image shows an error in
#error, and the page still recognizes a line afterwards.

Needs Debian's `chromium` and `chromium-driver` (or any Chromium/Chrome with a matching chromedriver on PATH) and
the `selenium` package; skipped with the reason when one is missing. Nothing is downloaded: the driver's path is
given to Selenium, so Selenium Manager never runs. HPI_TEST_SCREENSHOT=path keeps a screenshot of the answered page.
"""
import os
import shutil

import pytest
from serving_helpers import ServeProcess

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
