# Two commands for readers and CI:
#   make book   build the whole book (notebooks executed) into _build/html
#   make test   lint, unit tests, every notebook under nbval, and the strict book build
# Both create .venv from requirements.txt on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.normlab-installed

# Progress bars stay quiet in builds and tests (see normlab.progress).
# (Do not export MPLBACKEND here: kernels would inherit it instead of using the inline
# backend, and every figure would silently vanish from the book.)
export NORMLAB_QUIET = 1

.PHONY: help install lint unit notebooks book test claims clean

help:
	@echo "make book   build the book into _build/html (executes every notebook)"
	@echo "make test   ruff, unit tests, notebooks under nbval, strict book build"
	@echo "make claims re-run the chapters under NORMLAB_SEED=1..10, record which claims hold"
	@echo "make clean  remove _build and caches (keeps .venv)"

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .

unit: install
	$(BIN)/python -m pytest tests

notebooks: install
	$(BIN)/python -m pytest chapters --nbval-lax --nbval-current-env

book: install
	$(BIN)/jupyter-book build . -W -n --keep-going --all
	$(BIN)/python .ci/check_book.py _build/html
	@echo
	@echo "The book is at: $(CURDIR)/_build/html/index.html"

test: lint unit notebooks book

# Not part of `make test`: every chapter under ten seed offsets (about an hour on two cores).
# CLAIMS_ARGS="--offsets 1-3 --chapters 05" narrows it.
CLAIMS_ARGS ?= --offsets 1-10
claims: install
	$(BIN)/python tools/claims.py $(CLAIMS_ARGS)

clean:
	rm -rf _build .pytest_cache .ruff_cache .hypothesis
