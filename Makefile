# Everything a fresh machine needs: Python 3.11. `make run` and `make test` create .venv themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every package `make` installs, pinned with its hashes; regenerate with `make lock`.
LOCK := requirements.lock
# Extra pip-compile options for `make lock`, e.g. LOCK_ARGS="--upgrade-package fastapi" or --upgrade.
LOCK_ARGS ?=

BROWSER := /usr/bin/chromium
SOFFICE := /usr/bin/soffice
SOFFICE_PACKAGES := libreoffice-writer-nogui libreoffice-draw-nogui fonts-noto-cjk

.PHONY: run test fuzz lint lock clean

# The lock pins pip and setuptools too; the project itself is built with the locked setuptools.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --check-build-dependencies -e .
	touch $(STAMP)

# After editing the dependencies in pyproject.toml: keeps every pin it can, resolves the rest.
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --extra test \
		--all-build-deps --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
		$(LOCK_ARGS) --output-file $(LOCK) pyproject.toml

run: $(STAMP)
	$(BIN)/yingji serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The browser tests drive Debian's chromium through Playwright (no browser is downloaded), with
# CJK fonts so that the pages' Chinese renders in their screenshots.
BROWSER_PACKAGES := chromium fonts-noto-cjk
$(BROWSER):
	apt-get install -y -q $(BROWSER_PACKAGES) >/dev/null 2>&1 || \
		(apt-get update -q >/dev/null && apt-get install -y -q $(BROWSER_PACKAGES) >/dev/null)

# The year-end summary's PDF and page image are rendered by LibreOffice (Writer, and Draw for its
# graphic export filters), with CJK fonts.
$(SOFFICE):
	apt-get install -y -q $(SOFFICE_PACKAGES) >/dev/null 2>&1 || \
		(apt-get update -q >/dev/null && apt-get install -y -q $(SOFFICE_PACKAGES) >/dev/null)

test: lint $(BROWSER) $(SOFFICE)
	$(BIN)/pytest

# Schemathesis with every check on a random seed (printed; YINGJI_FUZZ_SEED=N replays one) and
# more examples than CI's pinned run; not part of `make test`.
fuzz: $(STAMP)
	YINGJI_FUZZ_SEED=$${YINGJI_FUZZ_SEED:-random} YINGJI_FUZZ_EXAMPLES=$${YINGJI_FUZZ_EXAMPLES:-25} \
		$(BIN)/pytest tests/test_api_schema.py -s

clean:
	rm -rf $(VENV) .yingji .pytest_cache
