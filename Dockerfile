# softrl_tf with its TensorFlow stack, installed the way the README installs it: `make setup`
# (scripts/install_stack.sh into /app/.venv, extras [atari,dev]).
#
#   docker build -t softrl_tf .
#   docker run --rm --init softrl_tf                  # short softq run on CartPole-v1 (20k steps)
#   docker run --rm --init softrl_tf .venv/bin/python scripts/train.py --agent=softq
#   docker run --rm --init softrl_tf scripts/train.py --agent=a2c     # *.py runs with .venv's python
#   docker run --rm --init -v "$PWD/runs:/app/runs" softrl_tf scripts/train.py --root-dir=runs/a2c
#   docker run --rm -it softrl_tf bash
#
# The entrypoint runs a first argument ending in .py with /app/.venv/bin/python and any other
# command as it is; /app/.venv/bin comes first on PATH. Runs are written under /app/runs (mount a
# volume there to keep them). The container runs as the unprivileged user "softrl" (uid 1000).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MPLBACKEND=Agg

# make runs the README's commands. Not version-pinned: the base image's Debian release fixes it.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 --user-group softrl \
    && install -d -o 1000 -g 1000 /app

WORKDIR /app
USER 1000:1000

# First only what `make setup` reads (the Makefile's setup prerequisites, and README.md for
# setup.py's long description), with an empty package for the editable install to point at: the
# long TensorFlow install then stays cached while the package's code changes. The editable
# install maps the name softrl_tf to /app/softrl_tf, which the full copy below fills in.
COPY --chown=1000:1000 Makefile setup.py README.md ./
COPY --chown=1000:1000 requirements/ requirements/
COPY --chown=1000:1000 scripts/install_stack.sh scripts/
RUN mkdir softrl_tf \
    && touch softrl_tf/__init__.py \
    && make setup

COPY --chown=1000:1000 . .

ENV PATH=/app/.venv/bin:$PATH
ENTRYPOINT ["/bin/sh", "-c", "case \"$1\" in *.py) exec /app/.venv/bin/python \"$@\" ;; *) exec \"$@\" ;; esac", "entrypoint"]
CMD [".venv/bin/python", "scripts/train.py", "--agent=softq", "--total-steps=20000"]
