# 出入境服务助手 — everything a newcomer needs is `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
RASA    := $(VENV)/bin/rasa
STAMP   := $(VENV)/.installed-$(shell sha256sum requirements.txt 2>/dev/null | cut -c1-12)
# What ruff checks; mypy reads its own list (bot, actions) from pyproject.toml.
LINTED  := bot actions tests scripts

# Embedded defaults: SQLite under var/, actions on localhost, no other service needed.
export ACTION_ENDPOINT      ?= http://127.0.0.1:5055/webhook
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 3
export RASA_MAX_CACHE_SIZE  := 0
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONHASHSEED       := 0
export LOG_LEVEL_LIBRARIES  ?= ERROR
export PYTHONWARNINGS       ?= ignore::DeprecationWarning

.PHONY: help install train run shell test lint eval bench validate clean

help:
	@echo "make run    – set up (venv, install, train if needed) and start the assistant on http://localhost:5005"
	@echo "make test   – same set-up, then run every test"
	@echo "make lint   – ruff (style, import order, docstrings, formatting) and mypy, as in pyproject.toml"
	@echo "make shell  – chat in the terminal"
	@echo "make train  – train the model if data or config changed"
	@echo "make eval   – NLU and emergency figures on held-out and unrelated data (results/eval.json)"
	@echo "make bench  – latency, throughput, training time, model size, memory (results/bench.json)"
	@echo "make load   – Locust load figures through nginx, one and two replicas (results/load.json)"
	@echo "make retention – delete conversations idle > RETENTION_DAYS (30), remove the person from bookings > 90 days past"

$(STAMP): requirements.txt
	@PYBIN=$$(scripts/find_python.sh) || exit 1; \
	if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$PYBIN"; "$$PYBIN" -m venv $(VENV); fi
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==24.2
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip check
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

train: $(STAMP)
	@scripts/train.sh

validate: $(STAMP)
	$(RASA) data validate --domain domain --fail-on-warnings

run: train
	@scripts/run.sh

shell: train
	@scripts/run.sh shell

test: train
	REQUIRE_SERVICES=$${REQUIRE_SERVICES:-0} $(PY) -m pytest -q -ra tests

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy

eval: train
	$(PY) -m scripts.eval

bench: train
	$(PY) -m scripts.bench

.PHONY: load
# Locust against nginx and 1, then 2 Rasa replicas (20 and 50 users, 60 s each); results/load.json.
load: train
	$(PY) -m scripts.load

.PHONY: retention
retention: $(STAMP)
	$(PY) -m bot.retention

clean:
	rm -rf models/*.tar.gz results var .pytest_cache

# --- care (issue 14): satisfaction report, appointment reminders ---------------------------
.PHONY: report remind
# Satisfaction by topic and week and the unanswered questions by week; PNG charts in results/.
report: $(STAMP)
	$(PY) -m bot.care.report --out results
# Tomorrow's appointment reminders, each sent once (cron-able: run it once a day).
remind: $(STAMP)
	$(PY) -m bot.reminders
