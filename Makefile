# The two commands of the README: `make run` and `make test`. Both start from nothing but Python, pip and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.hpi-installed
EXTRAS ?= cpu,paddle,pdf,test,serve,ray,quantize
MODELS ?= .cache/test_models
export HPI_TEST_MODELS := $(abspath $(MODELS))
# A peer for the benchmark race test, in its own venv (RapidOCR pulls opencv-python, which clashes with ours)
RAPIDOCR_VENV := .cache/peers/rapidocr-onnxruntime
export HPI_TEST_RAPIDOCR_PYTHON := $(abspath $(RAPIDOCR_VENV))/bin/python
# RapidOCR 3.x, the OCR pipeline race's peer and the recognition race's on the same ONNX file (its wheel is fetched
# with the test models; OpenVINO as hpi's, for rapidocr3_openvino)
RAPIDOCR3_VENV := .cache/peers/rapidocr-3.10
export HPI_TEST_RAPIDOCR3_PYTHON := $(abspath $(RAPIDOCR3_VENV))/bin/python

.PHONY: run test test-slow venv models peers browser clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

models: $(STAMP)
	$(PY) scripts/fetch_test_models.py --dest $(MODELS)

peers: $(RAPIDOCR_VENV)/.installed $(RAPIDOCR3_VENV)/.installed

$(RAPIDOCR_VENV)/.installed:
	test -x $(RAPIDOCR_VENV)/bin/python || $(PYTHON) -m venv $(RAPIDOCR_VENV)
	$(RAPIDOCR_VENV)/bin/python -m pip install --quiet rapidocr_onnxruntime==1.4.4
	touch $@

$(RAPIDOCR3_VENV)/.installed:
	test -x $(RAPIDOCR3_VENV)/bin/python || $(PYTHON) -m venv $(RAPIDOCR3_VENV)
	$(RAPIDOCR3_VENV)/bin/python -m pip install --quiet --find-links .cache/wheels rapidocr==3.10.0 onnxruntime \
		openvino==2026.4.1
	touch $@

# A real browser for the serving page's test: Debian's chromium and its driver (root and apt needed; without
# them the browser test skips and says why).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
			>/dev/null) || echo "could not install chromium: the browser test will skip"; \
	else echo "chromium/chromedriver not installed and no root apt-get: the browser test will skip"; fi

run: models
	$(PY) -m hpi text_recognition -i tests/data/samples --model_dir $(MODELS)/PP-OCRv4_mobile_rec_onnx \
		--use_hpip --device cpu --batch_size 8 --save_path output/run

# Two tiers (docs/testing.md): `test` is every behaviour, `test-slow` the soaks, fresh-venv installs and Ray
# clusters (tests marked slow); CI runs both. The header names the CPU, its class and flags: capability tests run
# or skip by them.
test: models peers browser
	$(PY) -m pytest tests -m "not slow"

test-slow: models peers browser
	$(PY) -m pytest tests -m slow

clean:
	rm -rf $(VENV) .cache output
