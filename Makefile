# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-viz

.PHONY: test demo venv bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

# The demo needs only the runtime and the `viz` extra (no torch, no keras).
$(DEMO_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[viz]"
	touch $(DEMO_STAMP)

venv: $(STAMP)

test: $(STAMP)
	KERAS_BACKEND=torch $(PY) -m pytest tests

demo: $(DEMO_STAMP)
	$(PY) -m lstmkit demo

bench: $(STAMP)
	$(PY) benchmarks/bench_lstm.py

lint: $(STAMP)
	$(PY) -m ruff check src tests scripts benchmarks examples docs

clean:
	rm -rf $(VENV) build dist src/*.egg-info
