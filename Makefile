# Every target sets up what it needs: a local virtual environment from pinned versions.
# The tests run two pytest workers on two cores, so each keeps torch/BLAS to one thread.
#   make book   build the executed book into _build/html (the main job)
#   make test   run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Both can be overridden on the command line: make PYTHON=/usr/bin/python3 VENV=/tmp/v venv
# (`make bench` needs a relative VENV).

# The Pythons requirements.txt installs on: from Debian 12's own 3.11.2 up to, not including, 3.12
# (the pins are verified on 3.11 only). `make venv` and `make lock` refuse any other.
PYTHON_MIN   := 3.11.2
PYTHON_BELOW := 3.12
# torch is the CPU build: its exact pin (from requirements.txt) is installed first from PyTorch's
# CPU index; its 2.13.0+cpu wheel then satisfies the pin torch==2.13.0. If that index cannot be
# reached, torch comes from the default index (on Linux x86_64 PyPI's multi-GB CUDA build) with a
# warning. Empty TORCH_INDEX to take torch from the default index straight away.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH       := $(shell sed -n 's/^\(torch==[^ ]*\).*/\1/p' requirements.txt)
# `make lock` resolves requirements.in with the lowest supported Python, so no pin needs a newer one.
LOCK_PYTHON ?= $(if $(wildcard /usr/bin/python3),/usr/bin/python3,$(PYTHON))
LOCK_VENV   := $(or $(TMPDIR),/tmp)/bnlab-lock-venv
PIP         := -m pip --disable-pip-version-check

# $(call check-python,INTERPRETER,WHAT): stop, naming the version found, unless it is in range.
check-python = command -v $(1) >/dev/null 2>&1 || { echo "$(2): Python '$(1)' not found; give \
  one from $(PYTHON_MIN) to below $(PYTHON_BELOW), e.g. make PYTHON=/usr/bin/python3.11 $(2)" >&2; \
  exit 1; }; $(1) -c 'import platform, sys; \
  low, high = (tuple(map(int, v.split("."))) for v in ("$(PYTHON_MIN)", "$(PYTHON_BELOW)")); \
  sys.exit(0 if low <= sys.version_info[:3] < high else "$(2): %s is Python %s, but \
  requirements.txt needs Python >=$(PYTHON_MIN),<$(PYTHON_BELOW); choose one with \
  make PYTHON=/path/to/python3.11 $(2)" % (sys.executable, platform.python_version()))'

# $(call install-torch,BIN): $(TORCH) without its dependencies (requirements.txt pins them), from
# TORCH_INDEX with one retry and a short timeout, else from the default index with a warning.
install-torch = if [ -z "$(strip $(TORCH_INDEX))" ]; then \
	  echo "$(TORCH) from the default index (TORCH_INDEX is empty)"; \
	  $(1)/python $(PIP) install --quiet --no-deps $(TORCH); \
	elif echo "$(TORCH) from $(TORCH_INDEX), the CPU build"; \
	  ! $(1)/python $(PIP) install --quiet --no-deps --retries 1 --timeout 10 \
	  --index-url $(TORCH_INDEX) $(TORCH); then \
	  echo "WARNING: could not install $(TORCH) from PyTorch's CPU index $(TORCH_INDEX) (see \
	  pip's message above). Falling back to the default index: on Linux x86_64 that is PyPI's \
	  CUDA build (several GB with its nvidia-* packages) unless pip's find-links hold the CPU \
	  wheel. For the CPU build make that index reachable and recreate the venv." >&2; \
	  $(1)/python $(PIP) install --quiet --no-deps $(TORCH); \
	fi

.PHONY: venv book book-self-study notebooks exercises check-exercises grade autograde bench \
        release test-release test-colab pdf pdf-deps test-pdf \
        test test-fast test-hub hub-capacity hub-deps lint lock clean browser-deps sandbox-deps check-debian-python \
        verdicts

$(STAMP): requirements.txt pyproject.toml
	@$(call check-python,$(PYTHON),venv)
	$(PYTHON) -m venv $(VENV)
	@$(call install-torch,$(BIN))
	$(BIN)/python $(PIP) install --quiet -r requirements.txt
	$(BIN)/python $(PIP) install --quiet --no-deps --no-build-isolation -e .
	@$(BIN)/python -c 'import importlib.metadata as m; print("installed torch", m.version("torch"))'
	touch $@

venv: $(STAMP)

# The notebook forms of the chapters (notebooks/, what Colab/Binder open) are generated; they
# name the public repository of _config.yml (repository: url, branch), so rerun after changing it.
notebooks: $(STAMP)
	$(BIN)/python -m course.notebook_forms

# The student release: the public tree (no solutions, no hidden tests, no grading) that learners,
# Binder, Colab, a hub and GitHub Pages use: make release [DEST=../course-public]. Push it to the
# repository _config.yml names (README: "Publishing your own copy of the course").
DEST ?= _build/student-release
release: $(STAMP) notebooks
	$(BIN)/python -m course.release $(DEST)

# Slower checks outside `make test`. test-release: the release builds its book (reusing the
# book's execution cache) and runs an exercise; test-colab: every notebook form runs in a fresh
# venv with only Colab's packages (no bnlab, no myst-nb), bnlab installed by its setup cell.
test-release: $(STAMP) notebooks
	OMP_NUM_THREADS=1 BNLAB_TEST_RELEASE=1 $(BIN)/python -m pytest tests/test_release.py -rs

test-colab: $(STAMP) notebooks
	OMP_NUM_THREADS=1 BNLAB_TEST_COLAB=1 $(BIN)/python -m pytest tests/test_colab.py -rs

# The whole book as one PDF, _build/pdf/book.pdf (about 75 s after `make book`): the single-page
# build (its own folder, the book's execution cache) printed by Debian's Chromium (course.pdf).
# test-pdf builds it and checks its pages, chapter titles, figures and equations with
# poppler-utils; `make test` runs that test too.
pdf: $(STAMP) notebooks pdf-deps
	$(BIN)/python -m course.execute_cache
	$(BIN)/jupyter-book build . --builder singlehtml --path-output _build/pdf \
	  --warningiserror --nitpick --keep-going
	$(BIN)/python -m course.pdf

pdf-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && \
	  command -v pdftotext >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq chromium chromium-driver poppler-utils >/dev/null)

test-pdf: $(STAMP) pdf-deps
	BNLAB_TEST_PDF=1 $(BIN)/python -m pytest tests/test_pdf.py -rs -s

# The chapters execute first, one per core, into the build's execution cache (a chapter whose
# entry is current is skipped); the build then reads their outputs (course.execute_cache).
book: $(STAMP) notebooks
	$(BIN)/python -m course.execute_cache
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

# The self-study edition: the same book with the exercises' solutions revealed on demand.
book-self-study: $(STAMP) notebooks
	$(BIN)/python -m course.execute_cache
	BNLAB_EDITION=self-study $(BIN)/jupyter-book build . --path-output _build/self-study \
	  --warningiserror --nitpick --keep-going

# Exercises: exercises/ (student versions) is generated from solutions/ (the nbgrader source).
exercises: $(STAMP)
	$(BIN)/python -m course.grading generate

check-exercises: $(STAMP)
	$(BIN)/python -m course.grading check

# A learner grades a finished notebook with the hidden tests: make grade NB=exercises/ps1_moments/moments.ipynb
grade: $(STAMP)
	$(BIN)/python -m course.grading selfgrade $(NB)

# An instructor autogrades every collected submission of one assignment: make autograde A=ps1_moments
autograde: $(STAMP)
	$(BIN)/python -m course.grading autograde $(A)

# Benchmarks: book, grading and kernels, printed and written to benchmarks/results/ (committed:
# the book's benchmarks page shows the latest figures).
bench: $(STAMP)
	cd benchmarks && ../$(BIN)/python run.py --out results/latest.json --markdown results/latest.md

# Debian's Chromium and its driver for the browser test (installed only when missing).
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null)

# Debian's bubblewrap: every grading kernel runs in its sandbox (installed only when missing).
sandbox-deps:
	@command -v bwrap >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null)

lint: $(STAMP) notebooks
	$(BIN)/ruff check .
	$(BIN)/ruff check notebooks
	$(BIN)/ruff format --check src tests
	$(BIN)/python -m course.chapter_format --check

# The verdict chapters run under the fixed seed offsets 1 and 2 and under one offset drawn per
# run, printed in pytest's header (tests/conftest.py); replay it: BNLAB_TEST_SEED=<offset> make test
test: $(STAMP) browser-deps pdf-deps sandbox-deps lint book
	OMP_NUM_THREADS=1 BNLAB_TEST_PDF=1 $(BIN)/python -m pytest -n 2 --dist loadfile

# A class round with Linux users on one machine and through a real JupyterHub (tests/test_hub.py,
# 4 to 8 minutes on 2 cores): it needs root, npm and bubblewrap; elsewhere it says why it skips.
hub-deps:
	@command -v npm >/dev/null || [ "$$(id -u)" != 0 ] || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null)

test-hub: $(STAMP) hub-deps sandbox-deps
	OMP_NUM_THREADS=1 BNLAB_TEST_HUB=1 $(BIN)/python -m pytest tests/test_hub.py tests/test_hub_k8s.py -rs

# The capacity of one machine (as root; not in make test or test-hub; 10 to 60 minutes): HUB_STUDENTS
# students (1 to 64; Linux users bnl-load001..., deleted at the end) log in through the real hub's
# form on 127.0.0.1, start servers, fetch, run their notebook, submit; the instructor collects and
# grades. Prints the figures and writes them to HUB_REPORT (pages/admin_guide.md, "Capacity").
HUB_STUDENTS ?= 24
HUB_MINUTES ?= 60
HUB_REPORT ?= $(CURDIR)/benchmarks/results/hub-capacity.json
hub-capacity: $(STAMP) hub-deps sandbox-deps
	OMP_NUM_THREADS=1 BNLAB_TEST_HUB=1 BNLAB_HUB_LOAD=$(HUB_STUDENTS) BNLAB_HUB_LOAD_MINUTES=$(HUB_MINUTES) \
	  BNLAB_HUB_LOAD_REPORT=$(HUB_REPORT) $(BIN)/python -m pytest tests/test_hub.py -k test_hub_capacity -rs -s

# How close is each verdict to failing: every chapter under OFFSETS seed offsets (0 to OFFSETS-1),
# two at a time, niced; the report lists each verdict's margin per offset, failing ones first, and
# is written beside the benchmarks. Runs are kept in _build/verdicts/ and rerun only when the
# notebook changed. More options: make verdicts VERDICTS_ARGS="--chapters 03 05 --only 7 12"
OFFSETS ?= 10
VERDICTS_ARGS ?=
verdicts: $(STAMP) notebooks
	OMP_NUM_THREADS=1 nice -n 15 $(BIN)/python -m course.verdicts --offsets $(OFFSETS) \
	  --markdown benchmarks/results/verdicts.md --json benchmarks/results/verdicts.json \
	  $(VERDICTS_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not book and not grading and not browser"

# requirements.txt afresh: the newest releases of requirements.in (and what they pull in) that
# install on LOCK_PYTHON, in a throwaway venv. Rebuild and `make test` before committing it.
lock:
	@$(call check-python,$(LOCK_PYTHON),lock)
	@$(LOCK_PYTHON) -c 'import platform; v = platform.python_version(); v == "$(PYTHON_MIN)" or \
	  print(f"WARNING: locking with Python {v}, not the minimum $(PYTHON_MIN): a pin may need a \
	  newer Python than $(PYTHON_MIN) (requirements.in constrains the known ones)")'
	rm -rf $(LOCK_VENV)
	$(LOCK_PYTHON) -m venv $(LOCK_VENV)
	@$(call install-torch,$(LOCK_VENV)/bin)
	$(LOCK_VENV)/bin/python $(PIP) install --quiet -r requirements.in
	$(LOCK_VENV)/bin/python $(PIP) freeze | sed 's/+cpu$$//' > requirements.txt.new
	mv requirements.txt.new requirements.txt
	rm -rf $(LOCK_VENV)

# requirements.txt installs on Debian 12's own Python (/usr/bin/python3, 3.11.2): a throwaway venv
# with it, a smoke test, the venv removed (skipped where that Python is missing or not 3.11).
check-debian-python:
	PYTHON_MIN=$(PYTHON_MIN) PYTHON_BELOW=$(PYTHON_BELOW) .ci/check-debian-python

clean:
	rm -rf _build $(VENV)
