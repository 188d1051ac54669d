# Everything runs inside .venv, made from requirements.txt on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The pinned numpy, matplotlib and ipykernel need Python 3.11 or newer: say so before anything else.
CHECK_PYTHON = @$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else \
	f"make: the course needs Python 3.11 or newer (its pinned numpy, matplotlib and ipykernel do); \
	$(PYTHON) is {v.major}.{v.minor}. Install a newer one and run: make $(MAKECMDGOALS) PYTHON=python3.11")'

.PHONY: venv student wheel book notebooks publish lint test test-fast gpu-check clean

$(STAMP): requirements.txt requirements-student.txt pyproject.toml
	$(CHECK_PYTHON)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

## a student's light install: only what the notebooks need (requirements-student.txt), no grader,
## site builder or test tools. TORCH_CPU=1: the CPU build of torch, for laptops without an NVIDIA GPU
student:
	$(CHECK_PYTHON)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(TORCH_CPU),$(BIN)/python -m pip install --quiet $$(grep '^torch==' requirements-student.txt) \
		--index-url https://download.pytorch.org/whl/cpu)
	$(BIN)/python -m pip install --quiet -r requirements-student.txt
	@echo "Ready: $(BIN)/jupyter lab notebooks/ch00/ch00.ipynb"

## dist/course_lib-<version>-py3-none-any.whl: course_lib in one file, for a notebook whose first
## cell cannot reach the repository (put the wheel next to the notebook, or upload it to Colab)
wheel: $(STAMP)
	rm -rf dist/course_lib-*.whl build/
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .
	@ls dist/course_lib-*.whl

## notebooks/: the student release, regenerated from solutions/ by nbgrader, with the course_lib
## wheel (dist/); book/_colab/: each chapter page as a notebook, for its Colab button
notebooks: $(STAMP) wheel
	$(BIN)/python -m autograder release
	$(BIN)/python book/_ext/colab_notebooks.py

## the site in _build/html (executed pages are cached in _build/.jupyter_cache)
book: notebooks
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter-book build . -W -n --keep-going
	@echo
	@echo "The site is built: open file://$(abspath _build/html/index.html)"

## the students' repository, without solutions or hidden tests, in an empty folder outside this one:
## make publish DEST=../dl-course-students (README.md, "Publishing to students")
publish: $(STAMP)
	@test -n "$(DEST)" || { echo "make publish: say where, e.g. make publish DEST=../dl-course-students"; exit 2; }
	$(BIN)/python -m autograder publish "$(DEST)"

## ruff (rules in pyproject.toml); code lines of the book's pages fit the desktop column
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python book/_ext/check_code_lines.py

## everything CI checks (run .ci/run first on a fresh machine: it installs the system packages)
test: lint
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -ra -n 2

## the inner loop: no notebook grading, site build or browser (tests marked slow); one chapter: CH=ch03
test-fast: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q -m "not slow$(if $(CH), and $(CH))"

## the first run on a GPU (at most ~5 minutes, no network): chapter 5's GPT at full size in bf16 and
## fp16 + GradScaler, chapter 3's trainer; writes benchmarks/results/gpu_check.json. DATA=folder
## with tinyshakespeare/ and cifar10-subset/. Without a GPU it runs at smoke size and says so.
gpu-check: $(STAMP)
	$(BIN)/python benchmarks/gpu_check.py $(if $(DATA),--data $(DATA))

clean:
	rm -rf _build .pytest_cache build dist
