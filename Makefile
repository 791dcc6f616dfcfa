# Commands for readers and CI (Linux and macOS; on Windows see the README, Platforms):
#   make book   build the whole book (notebooks executed) into _build/html
#   make test   lint (ruff, mypy), unit tests, every notebook under nbval, and the strict book build
#   make pdf    the whole book as one PDF, _build/pdf/normlab.pdf (needs Chromium)
# Every target creates .venv on first use and installs the locked book environment:
# requirements.txt (what the book needs) with the exact versions of requirements-lock.txt.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.normlab-installed
LOCK   := requirements-lock.txt

# PyPI's torch wheel for Linux is the CUDA build (over 500 MB, plus the CUDA libraries);
# PyTorch's CPU index has the 190 MB CPU build of the same release. torch alone is asked
# for there, with one retry, and pip falls back to its own configuration (PyPI, a mirror,
# local wheels) when the index cannot be reached. TORCH_INDEX= turns it off, and e.g.
# TORCH_INDEX=https://download.pytorch.org/whl/cu126 takes a CUDA build instead. On macOS
# and Windows PyPI's wheel is the right one.
ifeq ($(shell uname -s),Linux)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
endif
TORCH_PIN := $(shell sed -n 's/^\(torch==[0-9.]*\).*/\1/p' requirements.txt)

# Progress bars stay quiet in builds and tests (see normlab.progress).
# (Do not export MPLBACKEND here: kernels would inherit it instead of using the inline
# backend, and every figure would silently vanish from the book.)
export NORMLAB_QUIET = 1

.PHONY: help install lock lint unit notebooks book pdf test claims record clean distclean
.PHONY: book-zh books i18n i18n-check i18n-update

help:
	@echo "make book       build the book into _build/html (executes every notebook)"
	@echo "make test       ruff, mypy, unit tests, notebooks under nbval, strict book build"
	@echo "make claims     re-run the chapters under NORMLAB_SEED=1..10, record which claims hold"
	@echo "make record     NOTEBOOK=chapters/NN_x.ipynb: run its long experiments, write chapters/recorded/"
	@echo "make pdf        the whole book as one PDF in _build/pdf (needs Chromium)"
	@echo "make book-zh    the Chinese edition into _build/html-zh (from make book's executed notebooks)"
	@echo "make books      both editions, each linking to the other"
	@echo "make i18n-check every page's zh_CN catalog: untranslated, fuzzy, changed maths, stale"
	@echo "make i18n-update  update locales/zh_CN after the English text changed"
	@echo "make install    only create .venv with the locked book environment"
	@echo "make lock       write requirements-lock.txt from the packages in .venv"
	@echo "make clean      remove _build, build artefacts and caches (keeps .venv)"
	@echo "make distclean  clean, and remove .venv too"
	@echo "PYTHON=python3.12 chooses the Python of a new .venv (3.10 or newer)."

# The venv check runs on every call (a venv made by another Python is rebuilt), the pip
# installs only when requirements, lock or pyproject.toml changed.
install:
	@sh tools/ensure_venv.sh "$(PYTHON)" "$(VENV)" $(if $(filter command line environment,$(origin PYTHON)),1,0)
	@$(MAKE) --no-print-directory $(STAMP)

$(STAMP): requirements.txt $(LOCK) pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
ifneq ($(TORCH_INDEX),)
	$(BIN)/python -m pip install --quiet --no-deps --retries 1 --timeout 20 \
	    --extra-index-url $(TORCH_INDEX) "$(TORCH_PIN)"
endif
	@if [ "$$(sed -n 's/^# Python \([0-9.]*\)$$/\1/p' $(LOCK))" = "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ]; then \
	    echo "$(BIN)/python -m pip install --quiet -r requirements.txt -c $(LOCK)"; \
	    $(BIN)/python -m pip install --quiet -r requirements.txt -c $(LOCK); \
	else \
	    echo "note: $(LOCK) was made with Python $$(sed -n 's/^# Python //p' $(LOCK)); with this Python"; \
	    echo "      the newest versions within requirements.txt are installed instead (not the tested set)."; \
	    $(BIN)/python -m pip install --quiet -r requirements.txt; \
	fi
	@$(BIN)/python -c 'from importlib.metadata import version; print("installed: torch", version("torch"), "| normlab", version("normlab"))'
	touch $(STAMP)

# The lock is what `make install` installs: after changing requirements.txt, or upgrading
# packages in .venv (.venv/bin/python -m pip install -U ...) and running make test, run
# make lock and commit requirements-lock.txt. torch's local label (+cpu) is dropped, so
# that the same line takes the CPU build from PyTorch's index and PyPI's wheel elsewhere.
lock: install
	@{ echo "# The book's tested environment: every package at the exact version that make install"; \
	   echo "# installs and CI tests. Written by make lock (pip freeze of .venv, do not edit);"; \
	   echo "# make install installs requirements.txt under these constraints. Packages that only"; \
	   echo "# other platforms need are resolved at install time. The Python it was made with:"; \
	   echo "# Python $$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"; \
	   $(BIN)/python -m pip freeze --exclude-editable | sed -E 's/^(torch==[^+]+)\+.*/\1/'; \
	 } > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)
	touch $(STAMP)
	@echo "wrote $(LOCK): $$(grep -c '==' $(LOCK)) packages"

# mypy checks src/normlab and tests/test_typing.py ([tool.mypy] in pyproject.toml), with
# its cache in .mypy_cache
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest tests

notebooks: install
	$(BIN)/python -m pytest chapters --nbval-lax --nbval-current-env

# The notebooks are executed through a cache that is emptied first, so every notebook still
# runs once per build (the cache cannot see changes in src/: that is why _config.yml says
# execute_notebooks: force), and the Chinese edition (make book-zh) reuses the outputs.
# tools/i18n.py config --edition en writes _config.yml with that one change.
NB_CACHE := _build/.jupyter_cache
book: install
	rm -rf $(NB_CACHE)
	$(BIN)/python tools/i18n.py config --edition en --cache $(NB_CACHE) >/dev/null
	NORMLAB_OTHER_EDITION="$(ZH_LINK)" $(BIN)/jupyter-book build . -W -n --keep-going --all \
	    --config _build/i18n/_config.en.yml
	$(BIN)/python .ci/check_book.py _build/html
	@echo
	@echo "The book is at: $(CURDIR)/_build/html/index.html"

# One HTML page with the whole book (notebooks executed), printed by headless Chromium.
# The maths is typeset offline by the book's own MathJax (_vendor/mathjax, copied next to
# the page as for the HTML book); tools/print_pdf.py refuses a page that loads scripts
# from the network.
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser || command -v google-chrome || command -v google-chrome-stable)

pdf: install
	@test -n "$(CHROMIUM)" || { echo "error: make pdf needs Chromium or Chrome (Debian/Ubuntu: apt-get install chromium), or CHROMIUM=/path/to/chrome" >&2; exit 1; }
	$(BIN)/jupyter-book build . --builder singlehtml -n --keep-going --all
	mkdir -p _build/pdf
	$(BIN)/python tools/print_pdf.py "$(CHROMIUM)" _build/singlehtml/index.html _build/pdf/normlab.pdf

test: lint unit notebooks book i18n book-zh

# The Chinese edition (issue 17): the same pages and notebooks, the text translated in
# locales/zh_CN/LC_MESSAGES/<page>.po (see tools/i18n.py). book-zh executes nothing that
# make book executed: it reads the notebooks from make book's cache (a notebook missing
# there, or changed since, is executed). Each edition links to the other where both are
# built side by side (make test, make books); EN_LINK and ZH_LINK say where the other
# edition is from an edition's root when it is published elsewhere.
ZH_CONFIG := _build/i18n/_config.zh_CN.yml
EN_LINK   ?= ../html/
ZH_LINK   ?=
test books: ZH_LINK = ../html-zh/
books: book book-zh

book-zh: install
	$(BIN)/python tools/i18n.py config --execute cache --cache $(NB_CACHE) --out $(ZH_CONFIG) >/dev/null
	rm -rf _build/html-zh _build/zh/_build/html
	NORMLAB_OTHER_EDITION="$(EN_LINK)" $(BIN)/jupyter-book build . -W -n --keep-going --all \
	    --config $(ZH_CONFIG) --toc _toc.zh_CN.yml --path-output _build/zh
	mv _build/zh/_build/html _build/html-zh
	$(BIN)/python tools/i18n.py rendered _build/html-zh
	@echo
	@echo "The Chinese edition is at: $(CURDIR)/_build/html-zh/index.html"

# make test checks the translated pages (tools/i18n.py TRANSLATED) and counts the others;
# i18n-check checks every page, and fails while the chapters are untranslated.
i18n: install
	$(BIN)/python tools/i18n.py check

i18n-check: install
	$(BIN)/python tools/i18n.py check

# after changing a page's English text: update the catalogs (changed entries become fuzzy
# or empty), translate them in locales/zh_CN/LC_MESSAGES/<page>.po, then make i18n
I18N_PAGES ?=
i18n-update: install
	$(BIN)/python tools/i18n.py update $(if $(I18N_PAGES),--pages $(I18N_PAGES))

# Not part of `make test`: every chapter under ten seed offsets (about an hour on two cores).
# CLAIMS_ARGS="--offsets 1-3 --chapters 05" narrows it.
CLAIMS_ARGS ?= --offsets 1-10
claims: install
	$(BIN)/python tools/claims.py $(CLAIMS_ARGS)

# Not part of `make test`: run a chapter's long experiments and write their recordings
# (chapters/recorded/*.json, committed). RECORD_ARGS=--default records with the short runs.
record: install
	@test -n "$(NOTEBOOK)" || (echo "usage: make record NOTEBOOK=chapters/04_resnet.ipynb" && false)
	$(BIN)/python tools/record.py $(NOTEBOOK) $(RECORD_ARGS)

clean:
	rm -rf _build build dist .pytest_cache .ruff_cache .mypy_cache .hypothesis src/*.egg-info

distclean: clean
	rm -rf $(VENV)
