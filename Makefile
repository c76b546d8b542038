# The two commands of the README: `make run` and `make test`. Each makes (or reuses) a
# local virtual environment and installs what the project needs into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2
# The browser tests drive Debian's Chromium; their screenshots land here.
CHROMIUM ?= /usr/bin/chromium
export VIBES_SCREENSHOTS_DIR ?= $(CURDIR)/.web-screenshots

.PHONY: run test lint typecheck pytest browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/vibes serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Installs what the tests drive when it is missing (Debian/Ubuntu, as root): Chromium for
# the browser tests, nginx for the deployment files. Outside CI a machine without apt only
# skips those tests; under CI=true they fail.
NGINX ?= /usr/sbin/nginx
browser:
	@test -x $(CHROMIUM) -a -x $(NGINX) || { apt-get update && apt-get install -y --no-install-recommends chromium nginx-light; } \
	  || { test -z "$$CI" && echo "no Chromium or nginx: their tests will be skipped"; }

pytest: $(STAMP) browser
	rm -rf $(VIBES_SCREENSHOTS_DIR)
	$(BIN)/pytest $(PYTEST_ARGS)
	@echo "web app screenshots: $(VIBES_SCREENSHOTS_DIR)"

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .web-screenshots
