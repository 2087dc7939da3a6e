"""painter.progress: one tqdm bar, live on a terminal and a few whole lines in a log."""

from __future__ import annotations

import io

import pytest

from painter.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_about_ten_whole_lines_ending_at_the_total():
    log = io.StringIO()
    with progress_bar(7000, "generate", stream=log) as bar:
        for done in range(32, 7001, 32):  # batches of 32, as generate writes them
            bar.update(done)
        bar.update(7000)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert 10 <= len(lines) <= 12, lines
    assert lines[0].startswith("generate 0/7000 images (0%)")
    assert lines[-1].startswith("generate 7000/7000 images (100%)")
    counts = [int(line.split()[1].split("/")[0]) for line in lines]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)


def test_the_last_count_is_logged_even_between_tenths():
    log = io.StringIO()
    bar = progress_bar(100, "paint", stream=log)
    bar.update(95)  # the job stopped short of the total (Ctrl-C)
    bar.close()
    assert log.getvalue().splitlines()[-1].startswith("paint 95/100 images (95%)")
    assert bar.done == 95


def test_values_follow_the_count_and_log_lines_0_is_silent_off_a_terminal():
    log = io.StringIO()
    with progress_bar(4, "epoch 1/2", unit="steps", stream=log, log_lines=4) as bar:
        for step in range(1, 5):
            bar.update(step, {"G_loss": 1.234567, "D_loss": 0.5})
    assert log.getvalue().splitlines()[-1].startswith("epoch 1/2 4/4 steps (100%)")
    assert "G_loss=1.235, D_loss=0.5]" in log.getvalue()
    quiet = io.StringIO()
    with progress_bar(4, "epoch 1/2", unit="steps", stream=quiet, log_lines=0) as bar:
        bar.update(4, {"G_loss": 1.0})
    assert quiet.getvalue() == ""


def test_a_terminal_gets_one_line_redrawn_in_place():
    terminal = _Terminal()
    with progress_bar(10, "features (real)", stream=terminal) as bar:
        for done in range(1, 11):
            bar.update(done)
    text = terminal.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, kept at the end
    assert text.startswith("\rfeatures (real)")
    assert "10/10 images" in text.rsplit("\r", 1)[-1]


def test_bad_log_lines():
    with pytest.raises(ValueError, match="Received: log_lines=-1"):
        progress_bar(3, "x", stream=io.StringIO(), log_lines=-1)
