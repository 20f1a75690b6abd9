"""Learning-curve figures: panels, colours, the named band, and titles that fit the figure."""

from softrl_tf.results import figures
from softrl_tf.results.stats import BAND

import numpy as np
import pytest

pytest.importorskip("matplotlib")

LONG_TITLE = (
    "The paper's Atari A2C settings on Pong, CPU budget (paper §6.1 / §6.3 setup), three seeds, "
    "a title long enough to be cut off by a one-panel figure"
)


def _panels(envs, labels, seeds=3):
    x = np.arange(1, 11) * 100.0
    return {
        env: {label: [(x, (i + 1) * x + s) for s in range(seeds)] for i, label in enumerate(labels)}
        for env in envs
    }


def _inside_figure(fig, artist):
    fig.canvas.draw()
    box = artist.get_window_extent(fig.canvas.get_renderer())
    figure_box = fig.bbox
    return box.x0 >= figure_box.x0 and box.x1 <= figure_box.x1 and box.y1 <= figure_box.y1


def test_one_panel_per_env_one_colour_per_label_and_the_band_named():
    fig, drawn = figures.learning_curves(
        _panels(["CartPole-v1", "MinAtar/Breakout-v1", "PongNoFrameskip-v4", "Acrobot-v1"], "ab")
    )
    try:
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert drawn == 8 and len(fig.axes) == 6  # 2 rows of 3, two hidden
        assert [ax.get_title() for ax in visible] == [
            "CartPole-v1",
            "MinAtar/Breakout-v1",
            "PongNoFrameskip-v4",
            "Acrobot-v1",
        ]
        colours = {tuple(line.get_color() for line in ax.lines) for ax in visible}
        assert len(colours) == 1 and len(next(iter(colours))) == 2
        for ax in visible:
            assert ax.get_legend().get_title().get_text() == BAND
            assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (n=3)", "b (n=3)"]
            assert len(ax.collections) == 2  # one band per curve
            assert ax.get_xlabel() == "agent steps"  # Atari included: not frames
            np.testing.assert_allclose(ax.lines[1].get_ydata(), 2 * np.arange(1, 11) * 100 + 1)
    finally:
        figures.pyplot().close(fig)


def test_each_label_keeps_its_own_line_style_so_coinciding_curves_stay_visible():
    identical = {"CartPole-v1": {label: [(np.arange(5.0), np.ones(5))] for label in "abcd"}}
    identical["Acrobot-v1"] = identical["CartPole-v1"]
    fig, _ = figures.learning_curves(identical)
    try:
        styles = [tuple(line.get_linestyle() for line in ax.lines) for ax in fig.axes[:2]]
        assert styles[0] == styles[1]  # a label's style is the same in every panel
        assert len(set(styles[0])) == 4  # and differs between labels
        legend_styles = [h.get_linestyle() for h in fig.axes[0].get_legend().legend_handles]
        assert legend_styles == list(styles[0])
    finally:
        figures.pyplot().close(fig)


def test_a_single_run_has_no_band():
    fig, _ = figures.learning_curves(_panels(["CartPole-v1"], "a", seeds=1))
    try:
        assert len(fig.axes[0].collections) == 0
    finally:
        figures.pyplot().close(fig)


def test_a_long_title_is_wrapped_to_fit_the_figure(tmp_path):
    fig, _ = figures.learning_curves(_panels(["PongNoFrameskip-v4"], "a"), title=LONG_TITLE)
    title = fig._suptitle
    assert "\n" in title.get_text()
    assert " ".join(title.get_text().split()) == " ".join(LONG_TITLE.split())
    assert _inside_figure(fig, title)
    assert _inside_figure(fig, fig.axes[0].title)
    path = figures.save(fig, tmp_path / "sub" / "curves.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_wrap_title_keeps_short_titles():
    assert figures.wrap_title("Short", 4.8) == "Short"
    lines = figures.wrap_title(LONG_TITLE, 4.8).splitlines()
    assert len(lines) > 1 and max(map(len, lines)) <= 48
