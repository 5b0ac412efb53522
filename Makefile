VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
OUTPUTS ?= data/outputs

.PHONY: run test lint bench venv clean

$(STAMP): pyproject.toml scripts/install-system-deps
	./scripts/install-system-deps
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	mkdir -p $(OUTPUTS)
	cp -rn examples/demo-ep001 $(OUTPUTS)/ 2>/dev/null || true
	@echo "imagegen daemon on $(OUTPUTS) (Ctrl-C stops it). Drop another episode with:"
	@echo "  mkdir $(OUTPUTS)/ep002 && cp examples/demo-ep001/chapters.json $(OUTPUTS)/ep002/"
	$(VENV)/bin/imagegen daemon --outputs-dir $(OUTPUTS) -v

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
