"""What every notebook under ``notebooks/`` does besides its own experiment.

:func:`setup` is a notebook's second cell (the first installs softrl_tf on Colab): it quiets
TensorFlow's C++ and Python logs, sizes matplotlib's figures, and decides where results come from,
returned as :class:`Paths`. A checkout's committed ``results/`` are read as they are; with
``SOFTRL_QUICK=1``, or without a ``results/`` folder (e.g. on Colab), the notebook runs *quick
mode*: a tiny version of its experiment, written into a fresh temporary directory and never into
``results/``.

The ``show_*`` functions are the cells a notebook shows an experiment with: its summary
(:func:`show_summary`, for the numeric experiments), the quick re-run (:func:`show_quick_run`),
the committed table and learning curves (:func:`show_committed`) and the committed findings
(:func:`show_findings`).

Importing this module does not import TensorFlow (it is in :data:`softrl_tf._stack.TF_FREE`), so
that :func:`setup` sets ``TF_CPP_MIN_LOG_LEVEL`` before TensorFlow loads; the ``show_*`` functions
import :mod:`softrl_tf.experiments`, and with it TensorFlow, when first called.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

QUICK_VARIABLE = "SOFTRL_QUICK"
"""The environment variable that asks for quick mode when set to ``"1"``."""
FIGURE_DPI = 80
"""matplotlib's ``figure.dpi`` in the notebooks: modest PNG outputs."""
QUICK_DIR_PREFIX = "softrl-quick-"
"""The name prefix of quick mode's temporary directory."""


@dataclasses.dataclass(frozen=True)
class Paths:
    """Where a notebook reads and writes results.

    Attributes:
      repo: the checkout (the nearest folder up from the working directory holding ``setup.py``),
        or ``None``.
      results: the checkout's committed ``results/``, or ``None`` when there is none.
      quick: whether the notebook runs quick mode.
      quick_dir: quick mode's fresh temporary directory (``None`` when not quick).
    """

    repo: Path | None
    results: Path | None
    quick: bool
    quick_dir: Path | None

    @property
    def out(self) -> Path:
        """Where this notebook's experiments lie: ``quick_dir`` in quick mode, else ``results``."""
        return self.quick_dir if self.quick else self.results


def find_repo(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest folder from ``start`` (default: the working directory) upwards that holds a
    ``setup.py``, or ``None``."""
    start = Path.cwd() if start is None else Path(start).resolve()
    return next((p for p in [start, *start.parents] if (p / "setup.py").is_file()), None)


def locate(cwd: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Paths:
    """The :class:`Paths` of a notebook run from ``cwd`` (default: the working directory).

    Quick mode when ``environ`` (default: ``os.environ``) sets ``SOFTRL_QUICK=1`` or no committed
    ``results/`` folder is found; only then is a temporary directory created.
    """
    environ = os.environ if environ is None else environ
    repo = find_repo(cwd)
    results = repo / "results" if repo is not None and (repo / "results").is_dir() else None
    quick = environ.get(QUICK_VARIABLE) == "1" or results is None
    quick_dir = Path(tempfile.mkdtemp(prefix=QUICK_DIR_PREFIX)) if quick else None
    return Paths(repo=repo, results=results, quick=quick, quick_dir=quick_dir)


class _ErrorsOnly(logging.Filter):
    """Passes only records of level ERROR and above.

    A filter, not just the logger's level: when TensorFlow first loads in an interactive shell (a
    notebook kernel), ``tf.get_logger()`` sets the ``tensorflow`` logger's level back to INFO.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


def setup(cwd: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Paths:
    """A notebook's set-up: quiet TensorFlow logs (C++ and Python, below errors),
    matplotlib's figure size, and :func:`locate`; prints which mode the notebook runs in.

    Call it before anything imports TensorFlow: ``TF_CPP_MIN_LOG_LEVEL`` is read when it loads.
    """
    import matplotlib.pyplot as plt

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # fewer C++ log lines from TensorFlow
    logger = logging.getLogger("tensorflow")  # e.g. tf.function retracing warnings
    logger.setLevel(logging.ERROR)
    if not any(isinstance(f, _ErrorsOnly) for f in logger.filters):
        logger.addFilter(_ErrorsOnly())
    plt.rcParams["figure.dpi"] = FIGURE_DPI
    paths = locate(cwd, environ)
    print("quick mode" if paths.quick else "reading the committed results under results/")
    return paths


def _markdown(text: str) -> None:
    """Shows Markdown ``text`` as a notebook output."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def show_summary(name: str, paths: Paths) -> None:
    """Shows numeric experiment ``name``'s summary: computed afresh (into ``quick_dir``) in quick
    mode, else the committed ``summary.md``; its files then lie in ``paths.out / name``."""
    from softrl_tf import experiments

    if paths.quick:
        _markdown(experiments.run(name, str(paths.quick_dir), quick=True, log=None))
    else:
        _markdown((paths.results / name / "summary.md").read_text(encoding="utf-8"))


def _curves(experiment, results_dir: Path, title: str, quick: bool = False) -> None:
    """Draws and shows the learning curves of ``experiment``'s runs under ``results_dir``."""
    from softrl_tf import experiments
    from softrl_tf.experiments import figures

    import matplotlib.pyplot as plt

    runs = experiments.load_runs(experiment, str(results_dir), quick=quick)
    variants = [variant.name for variant in experiment.variants]
    figures.learning_curves(runs, title=title, variants=variants)
    plt.show()


def show_quick_run(name: str, paths: Paths) -> None:
    """In quick mode, runs training experiment ``name``'s tiny version (two seeds, a few thousand
    steps, in this process) and shows its table and curves; otherwise prints how to re-run it."""
    from softrl_tf import experiments

    experiment = experiments.get_experiment(name)
    if not paths.quick:
        print("SOFTRL_QUICK=1 re-runs a tiny version here. The full runs:")
        print(f"  python scripts/experiment.py run {name} --workers=2")
        return
    quick_dir = str(paths.quick_dir)
    _markdown(experiments.run(name, quick_dir, workers=0, quick=True, figure=False, log=None))
    _curves(experiment, paths.quick_dir, f"{experiment.title} (quick run)", quick=True)


def show_committed(name: str, paths: Paths) -> None:
    """Shows training experiment ``name``'s committed table and learning curves (nothing without
    a ``results/`` folder)."""
    if paths.results is None:
        return
    from softrl_tf import experiments

    experiment = experiments.get_experiment(name)
    _, table = experiments.summarize(experiment, str(paths.results), write=False)
    _markdown(table)
    _curves(experiment, paths.results, experiment.title)


def show_findings(name: str, paths: Paths) -> None:
    """Shows what the committed results of experiment ``name`` show, from
    ``results/<name>/findings.md`` (nothing without a ``results/`` folder)."""
    if paths.results is not None:
        _markdown((paths.results / name / "findings.md").read_text(encoding="utf-8"))
