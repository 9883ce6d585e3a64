# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-viz

# constraints.txt pins the versions tested (torch==2.13.0 among them); pyproject.toml keeps
# lower bounds for users.
CONSTRAINTS := -c constraints.txt

.PHONY: test demo venv docs bench lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(CONSTRAINTS) -e ".[dev]"
	touch $(STAMP)

# The demo needs only the runtime and the `viz` extra (no torch, no keras).
$(DEMO_STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(CONSTRAINTS) -e ".[viz]"
	touch $(DEMO_STAMP)

venv: $(STAMP)

test: $(STAMP)
	KERAS_BACKEND=torch $(PY) -m pytest tests src/lstmkit

demo: $(DEMO_STAMP)
	$(PY) -m lstmkit demo

# The API reference (mkdocs + mkdocstrings) into site/; --strict fails on any warning,
# including a broken reference or a docstring that does not parse.
docs: $(STAMP)
	$(PY) -m mkdocs build --strict --quiet --site-dir site

bench: $(STAMP)
	$(PY) benchmarks/bench_lstm.py

lint: $(STAMP)
	$(PY) -m ruff check src tests scripts benchmarks examples docs

clean:
	rm -rf $(VENV) build dist site src/*.egg-info
