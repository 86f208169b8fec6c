# make setup | make demo | make test | make bench
VENV := .venv
PY := $(VENV)/bin/python
export TKRE_DATA_DIR ?= $(if $(wildcard ../shared/data/fewrel),$(abspath ../shared/data),$(CURDIR)/data)
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo test bench data

setup: $(VENV)/.installed

# One pip command: torch pinned to 2.13.0 in pyproject.toml resolves with everything else (the CPU wheel here).
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

data: setup
	@test -f "$(TKRE_DATA_DIR)/fewrel/val_wiki.json" || $(VENV)/bin/tkre data fetch --dest "$(TKRE_DATA_DIR)"

demo: data
	$(PY) -m jobs.eval --config jobs/configs/eval/demo.yaml

test: setup
	$(PY) -m pytest -q

bench: data
	$(PY) benchmarks/episodic_eval.py
