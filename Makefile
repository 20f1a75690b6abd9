# The two commands a fresh machine needs (see README.md):
#   make train   set up .venv and run a short softq training run on CartPole-v1, then evaluate it
#   make test    set up .venv and run the test suite
# Both create the virtualenv at .venv on first use and reuse it afterwards.
# Also: make test-slow (learning checks, kill-and-resume), make test-notebooks (every notebook in
# quick mode), make test-tf-oldest (the tfcompat tests under the oldest supported TensorFlow, in
# .venv-tf-oldest), make experiments (the paper's experiments at laptop scale, about 75 min).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.softrl_tf-installed
RUN    ?= runs/latest
# The oldest TensorFlow of install_stack.sh's TF_SUPPORTED (the list's one home).
TF_OLDEST    := $(firstword $(shell sed -n 's/^TF_SUPPORTED="\(.*\)"$$/\1/p' scripts/install_stack.sh))
OLDEST_VENV  := .venv-tf-oldest
OLDEST_STAMP := $(OLDEST_VENV)/.softrl_tf-installed

.PHONY: setup train test test-slow test-notebooks test-tf-oldest experiments lint bench clean

setup: $(STAMP)

$(STAMP): setup.py scripts/install_stack.sh requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	bash scripts/install_stack.sh $(PY) "[atari,dev,notebooks,distributed]"
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

$(OLDEST_STAMP): setup.py scripts/install_stack.sh requirements/constraints.txt
	@test -x $(OLDEST_VENV)/bin/python || $(PYTHON) -m venv $(OLDEST_VENV)
	SOFTRL_TF_VERSION=$(TF_OLDEST) bash scripts/install_stack.sh $(OLDEST_VENV)/bin/python "[dev]"
	@touch $(OLDEST_STAMP)

# SOFTRL_TF_VERSION also makes the tests check that the venv holds that TensorFlow.
test-tf-oldest: $(OLDEST_STAMP)
	SOFTRL_TF_VERSION=$(TF_OLDEST) $(OLDEST_VENV)/bin/python -m pytest -m tfcompat

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
	rm -rf $(VENV) $(OLDEST_VENV) runs .pytest_cache .ruff_cache .hypothesis
