"""Typed errors. Library code raises them with the value received; only the CLI turns
them into one `error: …` line and an exit status."""


class PainterError(Exception):
    """Base of every error the CLI reports as one line."""

    exit_code = 1


class DataError(PainterError):
    """Bad input data: a corrupt record, a truncated JPEG, an empty folder, a bad zip.

    The message names the file and, inside a TFRecord, the record index.
    """

    exit_code = 1


class UsageError(PainterError):
    """Bad options or arguments: an existing output without `--force`, a missing path,
    a value out of range."""

    exit_code = 2


class ConfigError(UsageError):
    """An unknown or badly typed key in a TOML config."""


class CheckpointError(PainterError):
    """A missing checkpoint, or one written by another model or shape."""

    exit_code = 1


class WeightsError(PainterError):
    """Network weights that are missing or do not match; the message says how to get them."""

    exit_code = 1


class AcceleratorError(PainterError):
    """The accelerator a run asked for is not what TensorFlow sees: `--strategy tpu` that
    cannot connect to a TPU, `--strategy mirrored` without a GPU. The message says what
    was found and what to do; its own exit status lets a caller (a Kaggle kernel) tell it
    from a failed run."""

    exit_code = 3


class TrainingError(PainterError):
    """Training cannot go on, e.g. a NaN/Inf loss."""

    exit_code = 1


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its type's name when the message is empty.

    Errors from TensorFlow, h5py or a client library can run to pages; this is the part
    that fits into one `error: …` line.
    """
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
