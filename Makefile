# The two commands a fresh machine needs (see README.md):
#   make train   set up .venv and run a short softq training run on CartPole-v1, then evaluate it
#   make test    set up .venv and run the test suite
# Both create the virtualenv at .venv on first use and reuse it afterwards.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.softrl_tf-installed
RUN    ?= runs/quickstart

.PHONY: setup train test test-slow lint bench clean

setup: $(STAMP)

$(STAMP): setup.py scripts/install_stack.sh requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	bash scripts/install_stack.sh $(PY) "[atari,dev]"
	@touch $(STAMP)

train: setup
	$(PY) scripts/train.py --agent=softq --root-dir=$(RUN) --overwrite
	$(PY) scripts/evaluate.py $(RUN)/saved_model --episodes=10

test: setup
	$(PY) -m ruff check softrl_tf scripts tests benchmarks
	$(PY) -m pytest -n 2

test-slow: setup
	$(PY) -m pytest -m slow

lint: setup
	$(PY) -m ruff check softrl_tf scripts tests benchmarks
	$(PY) -m ruff format --check softrl_tf scripts tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .hypothesis
