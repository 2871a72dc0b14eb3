# githeal: `make demo` runs the sandbox heal end to end; `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo check deps prometheus fmt clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

deps: $(STAMP)

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
