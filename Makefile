# Two commands do all set-up on a fresh machine:
#   make demo   create .venv, install, run the main jobs on bundled real footage (no GPU, no weights)
#   make test   same environment, run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := classic,localize,diffusion,studio,timeline,scale,dev

.PHONY: demo test lint bench install clean browser gpu-wheelhouse

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# The CPU build of torch is pinned and installed first, so nothing later pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	# Model carriers without their dependency metadata (it asks for a second OpenCV and numpy<2): rapidocr's
	# PP-OCR ONNX models and mediapipe's person/pose/face .tflite files, run through onnxruntime, OpenCV and LiteRT.
	$(BIN)/pip install --quiet --no-deps rapidocr==3.10.0 mediapipe==0.10.21
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the studio's browser test, installed only if missing (playwright drives it; no downloads).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	command -v chromium >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; }

demo: $(STAMP)
	$(BIN)/shotcraft demo --output demo-output

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/media.py

# The wheels the offline GPU machine needs for bench/gpu.py (CPython 3.12, manylinux x86_64), checked against
# the hashes in bench/gpu_wheels.txt; docs/benchmarks.md says how to carry, install and run them.
WHEELHOUSE := .wheelhouse
gpu-wheelhouse:
	$(PYTHON) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		--require-hashes -d $(WHEELHOUSE) -r bench/gpu_wheels.txt
	du -sh $(WHEELHOUSE)

clean:
	rm -rf $(VENV) demo-output .pytest_cache
