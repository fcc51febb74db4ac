# tidewatch — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test deps lint bench clean

demo: deps
	$(VENV)/bin/tidewatch demo

test: deps
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Everything the project needs on a fresh machine: a virtualenv with the package and its test tools,
# Mosquitto when it is missing (Debian-family machines, as root), node packages for the TimescaleDB check.
deps: $(STAMP)
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing mosquitto (apt-get)"; apt-get update -qq && apt-get install -y -qq mosquitto >/dev/null; \
	  else echo "note: mosquitto not installed; tests and the demo need an MQTT v5 broker at TIDEWATCH_MQTT_URL"; fi; }

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: deps
	$(PY) -m benchmarks.run

clean:
	rm -rf .tidewatch .pytest_cache
