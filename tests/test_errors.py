"""painter.errors.first_line: the short form of an error that goes into one `error: …` line."""

from painter.errors import first_line


def test_first_line_of_a_long_message():
    assert first_line(ValueError("\n  shape mismatch\n  at layer conv_1\n")) == "shape mismatch"


def test_an_empty_message_gives_the_type():
    assert first_line(KeyError()) == "KeyError"
    assert first_line(OSError("   ")) == "OSError"
