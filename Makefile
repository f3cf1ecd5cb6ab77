# Transfer Learning Lab — `make course` runs the course, `make test` runs the tests.
# Both create .venv, install requirements.txt (what notebooks import), requirements-dev.txt
# (tests and builds) and the helpers package, and the Debian data packages when run as root
# (otherwise they print the one command to install them).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEB_PACKAGES := tuxpaint-stamps-default openclipart-png dataset-fashion-mnist
DEB_PATHS := /usr/share/tuxpaint/stamps /usr/share/openclipart/png /usr/share/datasets/fashion-mnist
BUILD ?= build
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
export HF_HUB_OFFLINE := 1

.PHONY: setup data test test-fast test-threads course lab lint format strip clean bench course-times pretrain recompute \
	reference claims book test-book runtimes student test-student slides test-slides release

setup: $(STAMP) data

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

data:
	@missing=0; for p in $(DEB_PATHS); do [ -d $$p ] || missing=1; done; \
	if [ $$missing = 0 ]; then echo "data: Debian data packages present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PACKAGES); \
	else echo "data: some datasets are missing; install them with:"; \
		echo "  sudo apt-get install --no-install-recommends $(DEB_PACKAGES)"; \
		echo "  (the course still runs; lessons that need a missing dataset say so)"; fi

## the tests: the unit tests, then every notebook in notebooks/ re-run by nbval in the quick
## profile, its grids read from the committed quick reference (a stale reference row fails:
## `make reference REFERENCE_PROFILE=quick` regenerates it)
test: setup
	TL_PROFILE=quick $(PY) -m pytest -q tests
	TL_PROFILE=quick TL_RESULTS=reference TL_STALE_REFERENCE=fail \
		$(PY) -m pytest --nbval-lax --nbval-current-env -q notebooks

## the fast tier: unit tests only — no notebook run, no browser, none of the slow ones (under
## two minutes on 2 cores)
test-fast: setup
	TL_PROFILE=quick $(PY) -m pytest -q -m "not slow and not notebook and not browser" tests

## the unit tests (not the notebooks) with one thread: no test may depend on the thread count,
## which changes the order of float sums (a few minutes)
test-threads: setup
	OMP_NUM_THREADS=1 TL_PROFILE=quick $(PY) -m pytest -q tests

## the course: execute every notebook with this machine's default profile into build/, with a
## progress line per cell and a table of times at the end; the grid notebooks read the committed
## reference rows (RESULTS=compute: every row computed here, about an hour longer on 2 cores);
## RECORD=1: a measured run, cold, its times written to benchmarks/course_times.json
course: setup
	$(PY) -m tools.run_course --out $(BUILD) $(if $(RESULTS),--results $(RESULTS)) $(if $(RECORD),--record)

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

## retrain the lab world's networks (data/lab/labcnn_{a,b,a2,b2}.pt; about a minute each on 2 cores)
pretrain: setup
	$(PY) -m helpers.lab pretrain

## recompute a notebook's cached grid results and re-execute it: make recompute NB=04_four_scenarios
recompute: setup
	@test -n "$(NB)" || { echo "usage: make recompute NB=04_four_scenarios"; exit 2; }
	@test -f notebooks/$(NB).ipynb || { echo "no notebook notebooks/$(NB).ipynb"; exit 2; }
	rm -f data/cache/results/$(NB)-*.jsonl
	@mkdir -p $(BUILD)/notebooks
	$(PY) -m tools.run_notebook --timeout 86400 --output-dir $(BUILD)/notebooks notebooks/$(NB).ipynb

## the committed reference runs of 03-06 and 09 (cpu profile, cold; about an hour on 2 cores):
## make reference [REFERENCE_PROFILE=gpu] [NB="04_four_scenarios"] [MISSING=1: only add the grids
## the reference lacks (an exercise's), reading the committed ones]
REFERENCE_PROFILE ?= cpu
reference: setup
	$(PY) -m tools.make_reference --profile $(REFERENCE_PROFILE) $(if $(MISSING),--missing) $(NB)

## the claims ledger: every verdict of 04-06 on the committed reference rows, in
## data/reference/CLAIMS.md (a few minutes; tests/test_reference.py checks it is current)
claims: setup
	$(PY) -m tools.make_claims

## the course book: every notebook executed (grids from the reference runs), static HTML with an
## index, in build/book/ (BOOK_PROFILE=quick for a fast one); make test-book opens it in Chromium
BOOK_PROFILE ?= cpu
book: setup
	$(PY) -m tools.build_book --profile $(BOOK_PROFILE) --out $(BUILD)/book
test-book: $(STAMP)
	$(PY) -m tools.check_book $(BUILD)/book

## the student edition: solutions replaced by stubs, instructor notes removed, in build/student/;
## make test-student also runs each student notebook (quick) up to its first exercise stub
student: $(STAMP)
	$(PY) -m tools.make_editions --out $(BUILD)/student
test-student: $(STAMP)
	TL_PROFILE=quick $(PY) -m tools.make_editions --out $(BUILD)/student --run

## lecture slides (reveal.js, offline) of the executed notebooks in build/slides/: from the book's
## executed notebooks where current (make book), else executed here in SLIDES_PROFILE;
## make test-slides opens every deck in Chromium and steps through it
SLIDES_PROFILE ?= quick
slides: $(STAMP)
	$(PY) -m tools.build_slides --from $(BUILD)/book/notebooks --out $(BUILD)/slides \
		--profile $(SLIDES_PROFILE)
test-slides: $(STAMP)
	$(PY) -m tools.check_slides $(BUILD)/slides

## pin Colab: one commit (default: HEAD) in every notebook's setup cell and Colab badge;
## make release [REF=<commit or tag>] [URL=https://github.com/<you>/<fork>], then commit
release: $(STAMP)
	$(PY) -m tools.release $(if $(REF),--ref $(REF)) $(if $(URL),--url $(URL))

## rewrite the README's course map and the notebooks' Runtime lines from benchmarks/course_times.json
runtimes: $(STAMP)
	$(PY) -m tools.runtimes --write

## side-by-side benchmarks (ours vs a tutorial-style baseline), printed as Markdown tables
bench: setup
	$(PY) -m benchmarks.run

## wall time and peak memory of every notebook in the quick and cpu profiles
course-times: setup
	$(PY) -m benchmarks.course_times --profiles quick cpu --cold

CODE := helpers tests notebooks benchmarks tools

## what the lint test checks: ruff check and ruff format --check (line length 100, notebooks too)
lint: $(STAMP)
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)

## the fixers: ruff's autofixes, ruff format, and stripped notebook outputs
format: $(STAMP)
	$(VENV)/bin/ruff check --fix $(CODE)
	$(VENV)/bin/ruff format $(CODE)
	$(PY) -m tools.strip_outputs $(NOTEBOOKS)

## strip notebook outputs and execution counts (what the hygiene test demands); ids stay
strip: $(STAMP)
	$(PY) -m tools.strip_outputs $(NOTEBOOKS)

clean:
	rm -rf $(BUILD) data/cache
