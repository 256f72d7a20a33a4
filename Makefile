# One command sets up and runs the main job; one command sets up and runs the tests.
#   make study [ARGS="--num-trials 4"]    create .venv if needed, install, run python -m study.run
#   make test  [PYTEST_ARGS="-k pareto"]      create .venv if needed, install (and Chromium,
#                                             PostgreSQL and iproute2, as root), lint (ruff), run the whole test suite
#   make check [PYTEST_ARGS=...]              while working: lint and the unit tests (no slow or integration
#                                             test; a few minutes on 2 cores); make test stays what CI runs
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install browser postgres netns study test check clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,data,postgres,auth]"
	touch $@

install: $(VENV)/.installed

study: install
	$(PY) -m study.run $(ARGS)

# The browser test (tests/analysis/test_mlflow_ui.py) needs headless Chromium, Debian's `chromium`
# package: installed here when missing and running as root; otherwise that test fails naming it.
browser:
	@if [ "$$(id -u)" = 0 ]; then \
	  command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium); \
	else command -v chromium >/dev/null || echo "note: chromium missing (not root, not installed): run apt-get install -y chromium" >&2; fi

# The PostgreSQL tests (tests/cluster/test_postgres_auth.py, the postgres variant of
# test_local_cluster.py) start their own server from Debian's `postgresql` package (binaries in
# /usr/lib/postgresql/<ver>/bin): installed here when missing and running as root, with
# create_main_cluster off so the package starts no system-wide server; otherwise they fail naming it.
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-common && \
	  sed -ri 's/^#?\s*(create_main_cluster)\s*=.*$$/\1 = false/' /etc/postgresql-common/createcluster.conf && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; \
	else echo "note: PostgreSQL missing (not root, not installed): run apt-get install -y postgresql" >&2; fi

# The network-namespace tests (tests/cluster/test_netns.py, test_local_cluster.py: `cluster.local up
# --netns`) need root and `ip` (Debian's `iproute2`): installed here when missing and running as
# root; without root they skip, naming the reason.
netns:
	@if command -v ip >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y iproute2; \
	else echo "note: the --netns tests need root and iproute2; they will skip" >&2; fi

# The lint (ruff, configured in pyproject.toml) runs first: a finding fails the target.
# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: install browser postgres netns
	$(PY) -m ruff check .
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The fast tier: the same lint, then every test not marked slow or integration (those need real
# services or minutes each and run in make test).
check: install
	$(PY) -m ruff check .
	@$(PY) -m pytest -m "not slow and not integration" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache test-artifacts
