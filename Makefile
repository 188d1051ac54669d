# Everything runs inside .venv, made from requirements.txt on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv book notebooks lint test test-fast clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

## notebooks/: the student release, regenerated from solutions/ by nbgrader;
## book/_colab/: each chapter page as a notebook, for its Colab button
notebooks: $(STAMP)
	$(BIN)/python -m autograder release
	$(BIN)/python book/_ext/colab_notebooks.py

## the site in _build/html (executed pages are cached in _build/.jupyter_cache)
book: notebooks
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter-book build . -W -n --keep-going
	@echo
	@echo "The site is built: open file://$(abspath _build/html/index.html)"

## ruff (rules in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .

## everything CI checks (run .ci/run first on a fresh machine: it installs the system packages)
test: lint
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -ra

## the inner loop: no notebook grading, site build or browser (tests marked slow); one chapter: CH=ch03
test-fast: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q -m "not slow$(if $(CH), and $(CH))"

clean:
	rm -rf _build .pytest_cache
