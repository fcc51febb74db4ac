# tidewatch — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test deps lint typecheck bench bench-legs soak clean

# Options pass through: make demo ARGS="--seconds 300" (see `tidewatch demo --help`).
demo: deps
	$(VENV)/bin/tidewatch demo $(ARGS)

# The suite mostly waits (consumer-group joins, kills, sleeps), so its modules run in TEST_WORKERS
# processes side by side (pytest-xdist). Each module stays whole in one process, its module-scoped stack
# with it (--dist loadfile), in the order tests/conftest.py gives: the slowest modules first (xdist's own
# reorder by test count is off). TEST_WORKERS=0 runs everything in this one process.
TEST_WORKERS ?= 2
test: deps
	$(PY) -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# Everything the project needs on a fresh machine: a virtualenv with the package and its test tools, and
# the Debian packages the integration tests run for real (Mosquitto; Prometheus with promtool; Chromium
# and its driver for the console's browser test), installed with apt-get when missing (as root).
# The TimescaleDB check installs its pinned npm package itself (tests/timescale).
APT_PACKAGES := mosquitto:/usr/sbin/mosquitto prometheus:/usr/bin/prometheus chromium:/usr/bin/chromium \
                chromium-driver:/usr/bin/chromedriver \
                fonts-noto-cjk:/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc poppler-utils:/usr/bin/pdftoppm \
                prometheus-alertmanager:/usr/bin/prometheus-alertmanager
deps: $(STAMP)
	@missing=""; for entry in $(APT_PACKAGES); do \
	  [ -e "$${entry#*:}" ] || missing="$$missing $${entry%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing with apt-get:$$missing"; \
	    apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get -o DPkg::Lock::Timeout=600 install -y -qq $$missing >/dev/null; \
	  else echo "note: missing Debian packages:$$missing (tests that need them are skipped)"; fi; fi

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

lint: typecheck
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy over schemas/, services/, streams/, alerts/ as pyproject.toml's [tool.mypy] sets it (strict on the
# pure cores); fails on any error. ~15 s from cold, a few seconds with its cache (.tidewatch/mypy).
typecheck: deps
	$(VENV)/bin/mypy

# Sustained load through the whole pipeline beside the naive baseline (long: ~25 min; BENCH_ARGS=--quick
# for a smoke run); bench-legs: the 45,000-message runs with the MQTT-alone and COPY-alone legs.
bench: deps
	$(PY) -m benchmarks.sustained $(BENCH_ARGS)

bench-legs: deps
	$(PY) -m benchmarks.run

# Kill each process in turn under load; exits 1 if an acknowledged reading is lost (SOAK_ARGS=--quick).
soak: deps
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

clean:
	rm -rf .tidewatch .pytest_cache
