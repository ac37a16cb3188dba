# The two set-up commands: `make run` serves the platform, `make test` runs the tests.
# Both create .venv, install the project, and install Debian's libsundials-dev when missing.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

.PHONY: run test lint install system-deps browser nginx

run: install system-deps
	$(BIN)/weblab serve

test: install system-deps browser nginx lint
	$(BIN)/pytest

# Style, the import layers of ARCHITECTURE.md (pyproject's [tool.importlinter]) and the types.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# myokit compiles simulations against SUNDIALS' CVODES headers.
system-deps:
	@if [ ! -f /usr/include/cvodes/cvodes.h ]; then \
		echo "installing libsundials-dev (needed by myokit)"; \
		$(APT) update -qq && $(APT) install -y -qq libsundials-dev; \
	fi

# The several-hosts test puts nginx in front of two web servers.
nginx:
	@if [ ! -x /usr/sbin/nginx ]; then \
		echo "installing nginx-light (the several-hosts test)"; \
		$(APT) update -qq && $(APT) install -y -qq nginx-light; \
	fi

# Browser tests drive Debian's Chromium.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing chromium (browser tests)"; \
		$(APT) update -qq && $(APT) install -y -qq chromium; \
	fi
