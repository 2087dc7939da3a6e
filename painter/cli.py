"""The `painter` command: a thin click layer over the library.

Library code raises `PainterError`s; `main` turns them (and click's own usage errors)
into one line `error: …` on stderr and the error's exit status, never a traceback.
"""

from __future__ import annotations

import os
import sys

import click

from painter import __version__
from painter.errors import PainterError

# TensorFlow's C++ start-up chatter (cuInit on CPU machines…) drowns the CLI's one-line
# errors; set TF_CPP_MIN_LOG_LEVEL yourself to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="painter")
def cli() -> None:
    """Photo→Monet GANs for Kaggle's "I'm Something of a Painter Myself"."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    try:
        status = cli.main(args=argv, prog_name="painter", standalone_mode=False)
    except PainterError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help())
        sys.exit(0)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    # With standalone_mode off, --help and --version come back as an exit status.
    sys.exit(status if isinstance(status, int) else 0)


# ---- data ---------------------------------------------------------------------------


# ---- train --------------------------------------------------------------------------


# ---- score / weights ----------------------------------------------------------------


# ---- generate / check / baseline ----------------------------------------------------


# ---- kaggle -------------------------------------------------------------------------


# ---- demo ---------------------------------------------------------------------------
