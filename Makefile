# The two commands of the README: `make run` and `make test`. Both start from nothing but Python, pip and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.hpi-installed
EXTRAS ?= cpu,paddle,pdf,test
MODELS ?= .cache/test_models
export HPI_TEST_MODELS := $(abspath $(MODELS))

.PHONY: run test venv models clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

models: $(STAMP)
	$(PY) scripts/fetch_test_models.py --dest $(MODELS)

run: models
	$(PY) -m hpi text_recognition -i tests/data/samples --model_dir $(MODELS)/PP-OCRv4_mobile_rec_onnx \
		--use_hpip --device cpu --batch_size 8 --save_path output/run

test: models
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) .cache output
