# Every target sets up what it needs: a local virtual environment from pinned versions.
# The tests run two pytest workers on two cores, so each keeps torch/BLAS to one thread.
#   make book   build the executed book into _build/html (the main job)
#   make test   run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv book book-self-study notebooks exercises check-exercises grade autograde bench \
        test test-fast lint lock clean browser-deps

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

# The notebook forms of the chapters (notebooks/, what Colab/Binder open) are generated.
notebooks: $(STAMP)
	$(BIN)/python _ext/course_notebooks.py

# The chapters execute first, one per core, into the build's execution cache (a chapter whose
# entry is current is skipped); the build then reads their outputs (_ext/execute_cache.py).
book: $(STAMP) notebooks
	$(BIN)/python _ext/execute_cache.py
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

# The self-study edition: the same book with the exercises' solutions revealed on demand.
book-self-study: $(STAMP) notebooks
	$(BIN)/python _ext/execute_cache.py
	BNLAB_EDITION=self-study $(BIN)/jupyter-book build . --path-output _build/self-study \
	  --warningiserror --nitpick --keep-going

# Exercises: exercises/ (student versions) is generated from solutions/ (the nbgrader source).
exercises: $(STAMP)
	$(BIN)/python -m grading generate

check-exercises: $(STAMP)
	$(BIN)/python -m grading check

# A learner grades a finished notebook with the hidden tests: make grade NB=exercises/ps1_moments/moments.ipynb
grade: $(STAMP)
	$(BIN)/python -m grading selfgrade $(NB)

# An instructor autogrades every collected submission of one assignment: make autograde A=ps1_moments
autograde: $(STAMP)
	$(BIN)/python -m grading autograde $(A)

# Benchmarks: book, grading and kernels, printed and written to benchmarks/results/ (committed:
# the book's benchmarks page shows the latest figures).
bench: $(STAMP)
	cd benchmarks && ../$(BIN)/python run.py --out results/latest.json --markdown results/latest.md

# Debian's Chromium and its driver for the browser test (installed only when missing).
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null)

lint: $(STAMP) notebooks
	$(BIN)/ruff check .
	$(BIN)/ruff check notebooks
	$(BIN)/ruff format --check src tests

test: $(STAMP) browser-deps lint book
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not book and not grading and not browser"

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu$$//' > requirements.txt

clean:
	rm -rf _build $(VENV)
