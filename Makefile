# The two commands a fresh machine needs (see README.md):
#   make train   set up .venv and run a short softq training run on CartPole-v1, then evaluate it
#   make test    set up .venv and run the test suite
# Both create the virtualenv at .venv on first use and reuse it afterwards.
# Also: make test-slow (learning checks, kill-and-resume), make test-notebooks (every notebook in
# quick mode), make experiments (the paper's experiments at laptop scale, about 75 min).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.softrl_tf-installed
RUN    ?= runs/latest

.PHONY: setup train test test-slow test-notebooks experiments lint bench clean

setup: $(STAMP)

$(STAMP): setup.py scripts/install_stack.sh requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	bash scripts/install_stack.sh $(PY) "[atari,dev,notebooks]"
	@touch $(STAMP)

train: setup
	$(PY) scripts/train.py --agent=softq --root-dir=$(RUN) --overwrite
	$(PY) scripts/evaluate.py $(RUN)/saved_model --episodes=10

test: setup
	$(PY) -m ruff check softrl_tf scripts tests benchmarks notebooks
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n 2

test-slow: setup
	$(PY) -m pytest -m slow

# The .ipynb files run in quick mode (a copy is executed; the committed outputs are left alone).
test-notebooks: setup
	SOFTRL_QUICK=1 $(PY) -m pytest -p no:cacheprovider --nbmake notebooks/*.ipynb

experiments: setup
	$(PY) scripts/experiment.py run all --workers=2
	$(PY) scripts/experiment.py report

bench: setup
	$(PY) benchmarks/env_throughput.py
	$(PY) benchmarks/train_throughput.py --agents a2c softq soft_dqn

lint: setup
	$(PY) -m ruff check softrl_tf scripts tests benchmarks notebooks
	$(VENV)/bin/lint-imports
	$(PY) -m ruff format --check softrl_tf scripts tests benchmarks notebooks

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .hypothesis
