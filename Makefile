# githeal: `make demo` runs the sandbox heal end to end; `make test` runs the whole suite;
# `make check` runs ruff, mypy --strict and the import-linter contracts. CI (.ci/run) runs check and test.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Hashed lock files (pip-tools): githeal.lock is what the image installs, dev.lock adds the test and
# sandbox extras. `make lock` regenerates both after a dependency change in pyproject.toml.
LOCK := requirements/githeal.lock
DEVLOCK := requirements/dev.lock
# Resolved against PyPI itself (not a local mirror from pip.conf), so the hashes are PyPI's.
PIP_COMPILE := PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= $(VENV)/piptools/bin/pip-compile --quiet --generate-hashes \
	--strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links --index-url https://pypi.org/simple

.PHONY: test demo check deps prometheus fmt clean bench lock wheel

$(STAMP): pyproject.toml $(DEVLOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r $(DEVLOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; echo "githeal: $(DEVLOCK) is stale: run make lock" >&2; exit 1; }
	touch $(STAMP)

deps: $(STAMP)

lock:
	test -x $(VENV)/piptools/bin/pip-compile || { $(PY) -m venv $(VENV)/piptools && $(VENV)/piptools/bin/pip install -q pip-tools; }
	$(PIP_COMPILE) --output-file $(LOCK) pyproject.toml
	$(PIP_COMPILE) --extra test --extra sandbox --output-file $(DEVLOCK) pyproject.toml

wheel: deps
	$(BIN)/python -m pip wheel -q --no-deps --wheel-dir dist .

# The real Prometheus (and Alertmanager) come from Debian's packages; so does the tests' sshd.
prometheus:
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages prometheus, prometheus-alertmanager"; \
	    (apt-get install -y --no-install-recommends prometheus prometheus-alertmanager >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y --no-install-recommends prometheus prometheus-alertmanager >/dev/null 2>&1)) || \
	    { echo "githeal: could not install prometheus; run: sudo apt-get install -y prometheus prometheus-alertmanager" >&2; exit 1; }; \
	  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then \
	    sudo apt-get install -y --no-install-recommends prometheus prometheus-alertmanager >/dev/null || \
	    { echo "githeal: prometheus missing; run: sudo apt-get install -y prometheus prometheus-alertmanager" >&2; exit 1; }; \
	  else \
	    echo "githeal: prometheus and promtool are missing; install them (Debian/Ubuntu: apt-get install -y prometheus prometheus-alertmanager)" >&2; exit 1; \
	  fi; \
	fi
	@# the git-over-SSH tests run a real sshd; without it they are skipped, so a failure here is not fatal
	@if [ ! -x /usr/sbin/sshd ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian package openssh-server (for the git-over-SSH tests)"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get install -y --no-install-recommends openssh-server >/dev/null 2>&1 || \
	  ($$SUDO apt-get update -qq >/dev/null 2>&1 && $$SUDO apt-get install -y --no-install-recommends openssh-server >/dev/null 2>&1) || \
	  echo "githeal: openssh-server not installed; the SSH tests will be skipped" >&2; \
	fi

test: deps prometheus
	$(BIN)/pytest -q

demo: deps prometheus
	$(BIN)/githeal demo

check: deps
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: deps
	$(BIN)/ruff check --fix bot tests bench
	$(BIN)/ruff format bot tests bench

bench: deps prometheus
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
