"""painter as a Kaggle kernel: install offline, train, write images.zip, check, score.

`painter kaggle bundle` copies this file into the kernel folder with the settings below
filled in. On Kaggle it runs with no internet, inside the competition's run-time cap
(5 hours for a notebook that is to be submitted):

1. installs painter from the wheel in the attached dataset (`pip install --no-deps`: Kaggle's
   own TensorFlow, JAX and Keras 3 stay; painter needs nothing else they lack), and checks
   that the backend the kernel trains on sees the accelerator it was built for: TensorFlow a
   GPU for a GPU kernel; JAX TPUs for a TPU kernel (Kaggle's TPU image ships
   tensorflow-cpu, which cannot see the TPU, so a TPU kernel runs every step on Keras' JAX
   backend). A kernel without its accelerator stops here instead of training on the CPU
   for hours;
2. imports every converted weights file painter knows (the FID Inception's, the
   stylizer's) from the inputs into its own cache, when it is there: without the FID
   weights the score is skipped; a config with the stylizer base fails to train without
   the stylizer's (then images.zip is the baseline's);
3. trains CONFIG on the competition data into /kaggle/working/painter_run (sample grids,
   loss curves, history.csv, checkpoints: all kept as kernel output), resuming when that
   folder already holds a checkpoint. The training budget is what the cap leaves from the
   kernel's own start once the later steps' estimated costs (BUDGET) and a safety margin
   are set aside, and the kernel stops a run that overstays it. A step that shows no sign
   of life (output, heartbeat.json, run files) for PAINTER_WATCHDOG counts as hung and is
   stopped (SIGINT, which makes `painter train` write a checkpoint, then SIGTERM, then
   SIGKILL);
4. writes /kaggle/working/images.zip from the run's best (else last) checkpoint, or, when
   training left none, the colour-matched baseline, and checks it as Kaggle will;
5. scores its MiFID against the Monets into /kaggle/working/score.json when the weights
   are there and the time left covers it.

Every step is recorded in /kaggle/working/status.json (written atomically after each step:
name, ok/failed/skipped, a one-line reason, seconds, where images.zip came from). Every
failure is one `error:` line, never a traceback. The kernel exits with status 1 when a step
it needs failed (wrong accelerator, training failed or hung, a fallback zip), so the
notebook shows it, but it does not end without an images.zip unless painter itself could
not be installed.

Every path and limit can be moved by an environment variable, so the same script runs
locally on a folder laid out like Kaggle's:

    PAINTER_KAGGLE_INPUT    /kaggle/input (searched for painter-*.whl and the weights)
    PAINTER_KAGGLE_DATA     <input>/gan-getting-started
    PAINTER_KAGGLE_WORKING  /kaggle/working
    PAINTER_KAGGLE_CAP      the run-time cap, e.g. "5h" or "4m"; default BUDGET["cap"]
    PAINTER_KAGGLE_ESTIMATES  a JSON object replacing BUDGET's estimates (seconds), e.g.
                            '{"generate": 60, "margin": 10}' for a run on the sample
    PAINTER_KAGGLE_ACCELERATOR  the accelerator to expect: gpu, tpu or none; default ACCELERATOR
    PAINTER_CONFIG          the config name (or path) to train; default CONFIG below
    PAINTER_TIME_BUDGET     an upper bound on the training budget, e.g. "2h"
    PAINTER_SETTINGS        config overrides for the accelerator; default SETTINGS below
    PAINTER_TRAIN_ARGS      extra `painter train` options, e.g. "--epochs 1"
    PAINTER_SMOKE           "1": train 1 epoch of 20 steps, then the zip and its check
                            (a few minutes), no score; default SMOKE below
    PAINTER_WATCHDOG        how long training may show no sign of life; default 10m (the
                            other steps get at least 10m)
    PAINTER_STOP_GRACE      how long a stopped step has to write its checkpoint; default 2m
    PAINTER_PIP_TARGET      install into this folder (pip --target) instead of site-packages
    PAINTER_SCORE           "0" skips scoring; "1" scores a smoke run too
    PAINTER_CACHE           painter's cache folder; default /tmp/painter_cache
    PAINTER_KAGGLE_FAULT    a test hook: "train-fails" or "train-hangs" replaces the
                            `painter train` command by one that fails or hangs
"""

import glob
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque

# Filled in by `painter kaggle bundle`.
CONFIG = "cyclegan"
ACCELERATOR = "gpu"
# `painter train --set` overrides for the accelerator (space-separated KEY=VALUE).
SETTINGS = "mixed_precision=mixed_float16"
# An upper bound on the training budget ("" for what the cap leaves).
TIME_BUDGET = ""
# "1": a smoke run (1 epoch of 20 steps, the zip, its check).
SMOKE = "0"
# The run-time split in seconds: the cap, the safety margin, and conservative estimates of
# the steps after training, for 7,038 photos on ACCELERATOR (painter.kaggle.bundle.KernelBudget).
BUDGET = {"cap": 18000, "margin": 1200, "install": 300, "generate": 1354, "check": 180, "score": 243}

# How each accelerator trains: its Keras backend and `painter train --strategy`. On JAX,
# "tpu" is DataParallel over every TPU core JAX sees (8 on a v5e-8) and refuses to train
# without one, as TensorFlow's strategies do without their devices.
STRATEGY = {"gpu": "mirrored", "tpu": "tpu", "none": "cpu"}
BACKEND = {"gpu": "tensorflow", "tpu": "jax", "none": "tensorflow"}
SMOKE_TRAIN_ARGS = ["--epochs", "1", "--steps-per-epoch", "20"]
MIN_TRAINING_SECONDS = 30  # below this, training is skipped: the zip comes from what exists
POLL_SECONDS = 5.0
DEFAULT_WATCHDOG_SECONDS = 600
# What the installed painter runs on: versions, the Keras backend and the device types that
# backend sees (TensorFlow's physical devices, or JAX's: "TPU" ×8 on a v5e-8), and the
# weights files it knows (its registry: name → file name). Run with KERAS_BACKEND set to the
# kernel's backend; on JAX, TensorFlow is not imported (its version is read from its
# package metadata, "none" when absent).
PROBE = """
import importlib.metadata, json, os, sys
# TensorFlow's and JAX's start-up chatter goes to fd 2 before a log level is read: hidden here.
saved = os.dup(2)
os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
try:
    import painter, painter.weights, keras, numpy
    jax_version = tf_version = "none"
    if keras.backend.backend() == "jax":
        import jax
        jax_version = jax.__version__
        devices = [d.platform.upper() for d in jax.devices()]
        for name in ("tensorflow", "tensorflow-cpu"):
            try:
                tf_version = importlib.metadata.version(name)
                break
            except importlib.metadata.PackageNotFoundError:
                pass
    else:
        import tensorflow as tf
        tf_version = tf.__version__
        devices = [d.device_type for d in tf.config.list_physical_devices()]
except Exception as e:
    print(f"error: {type(e).__name__}: {e}".splitlines()[0])
    sys.exit(1)
finally:
    os.dup2(saved, 2)
print(json.dumps({"painter": painter.__version__, "file": painter.__file__,
                  "backend": keras.backend.backend(), "tensorflow": tf_version,
                  "jax": jax_version, "keras": keras.__version__,
                  "numpy": numpy.__version__, "python": sys.version.split()[0],
                  "devices": devices,
                  "weights": {k: v.file_name for k, v in painter.weights.REGISTRY.items()}}))
"""


class KernelError(Exception):
    """A step that cannot go on; its message is the one line the log and status.json get."""


def _env(name, default):
    return os.environ.get(name) or default


def _seconds(text, name):
    """Seconds in "5h", "4m", "90s", "1h30m" or a bare number (the kernel runs before
    painter is installed, so it cannot use painter's own parser)."""
    raw = str(text).strip().lower().replace(" ", "")
    try:
        value = float(raw)
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", raw)
        units = [u for _, u in parts]
        in_order = units == sorted(set(units), key="hms".index)
        if not parts or "".join(n + u for n, u in parts) != raw or not in_order:
            raise KernelError(
                f"{name}={text!r}: expected a duration like 5h, 4m30s or 90s"
            ) from None
        value = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if not value > 0:
        raise KernelError(f"{name}={text!r}: must be more than 0 seconds")
    return value


def _clock(seconds):
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _find(root, pattern, exclude=None):
    """The newest file matching `pattern` anywhere under `root`, or None."""
    hits = [
        path
        for path in glob.glob(os.path.join(root, "**", pattern), recursive=True)
        if not (exclude and os.path.abspath(path).startswith(os.path.abspath(exclude) + os.sep))
    ]
    return max(hits, key=os.path.getmtime) if hits else None


def checkpoints(run_dir):
    """Names of the run's complete checkpoints (folders with a manifest; a name starting
    with "." is an interrupted write)."""
    folder = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(folder):
        return []
    return sorted(
        name for name in os.listdir(folder)
        if not name.startswith(".") and os.path.isfile(os.path.join(folder, name, "manifest.json"))
    )


def accelerator_problem(accelerator, devices):
    """Why the `devices` the kernel's backend sees (device types, e.g. ["CPU", "GPU"] from
    TensorFlow, ["TPU"] * 8 from JAX) cannot serve a kernel built for `accelerator`, or None
    when they can."""
    found = ", ".join(f"{kind}×{devices.count(kind)}" for kind in sorted(set(devices))) or "none"
    if accelerator == "gpu" and "GPU" not in devices:
        return (
            f"this kernel was built for a GPU but TensorFlow sees no GPU (devices: {found}); "
            "turn on a GPU accelerator in the notebook's settings, or rebuild the kernel with "
            "`painter kaggle bundle --accelerator none` to train on the CPU"
        )
    if accelerator == "tpu" and "TPU" not in devices:
        return (
            f"this kernel was built for the TPU but JAX sees no TPU (devices: {found}); "
            "turn on the TPU VM v5e-8 accelerator in the notebook's settings, or rebuild the "
            "kernel with `painter kaggle bundle --accelerator gpu`"
        )
    return None


def training_budget(budget, cap, elapsed, scoring):
    """Seconds left to train: the cap, less the margin, the time already spent and the
    estimated cost of what follows training (the score only when it will run)."""
    later = budget["generate"] + budget["check"] + (budget["score"] if scoring else 0)
    return cap - budget["margin"] - elapsed - later


class Status:
    """/kaggle/working/status.json: what each step did, rewritten atomically after each."""

    def __init__(self, path, start, **info):
        self.path = path
        self.start = start
        self.data = {"ok": None, **info, "steps": [], "zip": None}

    def step(self, name, state, reason, seconds, **extra):
        """Records a step that took `seconds` and ended now ("at": seconds since the start)."""
        self.data["steps"].append({
            "step": name, "status": state, "reason": reason, "seconds": round(seconds, 1),
            "at": round(time.time() - self.start, 1), **extra,
        })
        self.write()

    def write(self):
        temp = os.path.join(os.path.dirname(self.path), f".{os.path.basename(self.path)}.tmp")
        with open(temp, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=2)
            f.write("\n")
        os.replace(temp, self.path)


class Outcome:
    """How a step's command ended: its exit status, its last lines, and whether the kernel
    stopped it ("hang", "clock") or not (None)."""

    def __init__(self, returncode, lines, stopped, seconds):
        self.returncode = returncode
        self.lines = lines
        self.stopped = stopped
        self.seconds = seconds

    @property
    def ok(self):
        return self.returncode == 0 and self.stopped is None

    def last_json(self):
        """The last line the command printed that parses as a JSON object, or None."""
        for line in reversed(self.lines):
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    continue
        return None

    def error(self):
        """The command's last `error:` line, else its exit status, in one line."""
        for line in reversed(self.lines):
            if line.startswith("error: "):
                return line[len("error: "):]
        if self.returncode < 0:
            return f"killed by signal {-self.returncode}"
        return f"exit status {self.returncode}"


def _newest_mtime(paths):
    """The newest modification time among `paths` and, for folders, their entries (one
    level: a heartbeat file, history.csv, the checkpoints folder, a growing temp zip)."""
    newest = 0.0
    for path in paths:
        try:
            newest = max(newest, os.stat(path).st_mtime)
            if os.path.isdir(path):
                with os.scandir(path) as entries:
                    for entry in entries:
                        try:
                            newest = max(newest, entry.stat().st_mtime)
                        except OSError:
                            continue
        except OSError:
            continue
    return newest


def _stop(proc, grace):
    """SIGINT (painter writes a checkpoint and exits), then SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            return
        try:
            proc.send_signal(sig)
        except OSError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def _default_sigint():
    """In the child before exec: SIGINT back to its default. A process started in the
    background by a non-interactive shell (`python painter_kernel.py &`, nohup) inherits
    SIGINT ignored, and a Python that starts with SIGINT ignored never raises
    KeyboardInterrupt: the watchdog's SIGINT, which makes `painter train` write a
    checkpoint, would go unheard."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_watched(args, env, *, watchdog, grace, signs=(), deadline=None, label=None):
    """Runs a command with its output in the log, and stops it when it shows no sign of
    life for `watchdog` seconds (no output line, no change to the files or folders in
    `signs`) or when the clock passes `deadline`. `label` replaces the command in the log."""
    print("$ " + (label or " ".join(shlex.quote(str(a)) for a in args)), flush=True)
    started = time.time()
    try:
        proc = subprocess.Popen(
            [str(a) for a in args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", bufsize=1, preexec_fn=_default_sigint,
        )
    except OSError as e:
        return Outcome(127, [f"error: {args[0]}: {e.strerror or e}"], None, 0.0)
    lines = deque(maxlen=200)
    last_output = [started]

    def pump():
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))
            last_output[0] = time.time()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    stopped = None
    poll = max(0.2, min(POLL_SECONDS, watchdog / 4))
    while True:
        try:
            proc.wait(timeout=poll)
            break
        except subprocess.TimeoutExpired:
            now = time.time()
            alive = max(started, last_output[0], _newest_mtime(signs))
            if deadline is not None and now > deadline:
                stopped = "clock"
            elif now - alive > watchdog:
                stopped = "hang"
            else:
                continue
            _stop(proc, grace)
            break
    reader.join(timeout=10)
    return Outcome(proc.wait(), list(lines), stopped, time.time() - started)


class Kernel:
    """The steps of one kernel run and what they share."""

    def __init__(self):
        self.start = time.time()
        self.input_dir = _env("PAINTER_KAGGLE_INPUT", "/kaggle/input")
        default_data = os.path.join(self.input_dir, "gan-getting-started")
        self.data_dir = _env("PAINTER_KAGGLE_DATA", default_data)
        self.working = _env("PAINTER_KAGGLE_WORKING", "/kaggle/working")
        self.config = _env("PAINTER_CONFIG", CONFIG)
        self.accelerator = _env("PAINTER_KAGGLE_ACCELERATOR", ACCELERATOR)
        self.smoke = _env("PAINTER_SMOKE", SMOKE) == "1"
        self.run_dir = os.path.join(self.working, "painter_run")
        self.images = os.path.join(self.working, "images.zip")
        self.failures = []
        os.makedirs(self.working, exist_ok=True)
        self.status = Status(
            os.path.join(self.working, "status.json"), self.start, accelerator=self.accelerator,
            config=self.config, smoke=self.smoke, started=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        self.env = dict(os.environ)
        self.env.setdefault("PAINTER_CACHE", "/tmp/painter_cache")
        self.env["PYTHONUNBUFFERED"] = "1"
        self.painter = [sys.executable, "-m", "painter"]
        self.weights_ready = False  # the FID weights, which scoring needs
        self.weights_files = {}  # registry name → file name, from the installed painter
        self.wheel = None
        self.budget = dict(BUDGET)

    def configure(self):
        """Reads the settings from the environment before any work, so a bad value fails
        in the first second."""
        cap = _env("PAINTER_KAGGLE_CAP", BUDGET["cap"])
        self.budget["cap"] = _seconds(cap, "PAINTER_KAGGLE_CAP")
        estimates = os.environ.get("PAINTER_KAGGLE_ESTIMATES")
        if estimates:
            try:
                self.budget.update({k: float(v) for k, v in json.loads(estimates).items()})
            except (ValueError, TypeError, AttributeError):
                raise KernelError(
                    f"PAINTER_KAGGLE_ESTIMATES={estimates!r}: expected a JSON object of seconds"
                ) from None
        watchdog = _env("PAINTER_WATCHDOG", DEFAULT_WATCHDOG_SECONDS)
        self.watchdog = _seconds(watchdog, "PAINTER_WATCHDOG")
        self.grace = _seconds(_env("PAINTER_STOP_GRACE", "2m"), "PAINTER_STOP_GRACE")
        time_budget = _env("PAINTER_TIME_BUDGET", TIME_BUDGET)
        self.time_budget = _seconds(time_budget, "PAINTER_TIME_BUDGET") if time_budget else None
        if self.accelerator not in BACKEND:
            raise KernelError(
                f"PAINTER_KAGGLE_ACCELERATOR={self.accelerator!r}: must be gpu, tpu or none"
            )
        # Every step (the probe, training, generating, scoring) runs on the same backend.
        self.backend = BACKEND[self.accelerator]
        self.env["KERAS_BACKEND"] = self.backend
        self.fault = os.environ.get("PAINTER_KAGGLE_FAULT", "")
        if self.fault not in ("", "train-fails", "train-hangs"):
            raise KernelError(
                f"PAINTER_KAGGLE_FAULT={self.fault!r}: must be train-fails or train-hangs"
            )
        self.status.data.update(cap_seconds=self.budget["cap"], budget=self.budget)

    def elapsed(self):
        return time.time() - self.start

    def left(self):
        """Seconds before the cap less the margin."""
        return self.budget["cap"] - self.budget["margin"] - self.elapsed()

    def title(self, text):
        now = time.strftime("%H:%M:%S")
        print(f"\n==== {text} ({now}, {_clock(self.elapsed())} in) ====", flush=True)

    def fail(self, step, reason, started, **extra):
        print(f"error: {step}: {reason}", file=sys.stderr, flush=True)
        self.status.step(step, "failed", reason, time.time() - started, **extra)
        self.failures.append(f"{step}: {reason}")

    def run(self, args, **kwargs):
        # The other steps have silent stretches (TensorFlow's import, building a model) that
        # a short training watchdog would take for a hang.
        kwargs.setdefault("watchdog", max(self.watchdog, DEFAULT_WATCHDOG_SECONDS))
        kwargs.setdefault("grace", self.grace)
        kwargs.setdefault("signs", [self.working])
        return run_watched(args, self.env, **kwargs)

    # ---- the steps ------------------------------------------------------------------

    def install(self):
        """pip install --no-deps of the dataset's wheel; then painter, its Keras backend and
        the devices that backend sees, in one probe."""
        self.title("install painter (offline)")
        started = time.time()
        self.wheel = _find(self.input_dir, "painter-*.whl", exclude=self.data_dir)
        if self.wheel is None:
            raise KernelError(
                f"no painter-*.whl under {self.input_dir}; attach the painter dataset"
            )
        # --force-reinstall: a new dataset version may carry a wheel of the same version.
        pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
               "--force-reinstall", "--quiet"]
        target = os.environ.get("PAINTER_PIP_TARGET")
        if target:
            pip += ["--target", target, "--upgrade"]
            paths = [target, self.env.get("PYTHONPATH")]
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
        done = self.run(pip + [self.wheel])
        if not done.ok:
            raise KernelError(f"pip install {os.path.basename(self.wheel)} failed: {done.error()}")
        done = run_watched(
            [sys.executable, "-c", PROBE, self.accelerator],
            dict(self.env, TF_CPP_MIN_LOG_LEVEL="3"),
            watchdog=max(self.watchdog, DEFAULT_WATCHDOG_SECONDS), grace=self.grace,
            label=f"{sys.executable} -c PROBE {self.accelerator}  (painter, Keras on "
                  f"{self.backend}, devices)",
        )
        found = done.last_json()
        if not done.ok or found is None:
            raise KernelError(f"painter or Keras on {self.backend} does not import: {done.error()}")
        print(
            f"painter {found['painter']} from {found['file']}; Keras {found['keras']} on "
            f"{found['backend']}; TensorFlow {found['tensorflow']}, JAX {found['jax']}, "
            f"numpy {found['numpy']}, Python {found['python']}; "
            f"devices: {', '.join(found['devices'])}", flush=True,
        )
        self.status.data["versions"] = {
            k: v for k, v in found.items() if k not in ("devices", "weights")
        }
        self.status.data["devices"] = found["devices"]
        self.weights_files = found["weights"]
        self.status.step("install", "ok", f"painter {found['painter']}", time.time() - started)

        started = time.time()
        problem = accelerator_problem(self.accelerator, found["devices"])
        if problem:
            self.fail("accelerator", problem, started)
            return False
        seen = ", ".join(found["devices"])
        self.status.step("accelerator", "ok", f"{self.accelerator}: {seen}", 0.0)
        return True

    def import_weights(self):
        """Imports each weights file of the installed painter's registry found in the
        inputs; one status step each, "NAME weights" (e.g. "fid weights")."""
        # What goes without them: the score without the FID's; a config with the stylizer
        # base fails to train (painter's own error) without the stylizer's.
        without = {"fid": "the MiFID score will be skipped",
                   "stylizer": 'a config with base = "stylizer" cannot train'}
        for name, file_name in self.weights_files.items():
            step = f"{name} weights"
            consequence = without.get(name, f"what needs the {name} weights will fail")
            weights = _find(self.input_dir, file_name, exclude=self.data_dir)
            if not weights:
                print(f"no {file_name} in the inputs: {consequence}", flush=True)
                self.status.step(step, "skipped", f"no {file_name} in the inputs", 0.0)
                continue
            self.title(step)
            started = time.time()
            # --force: the kernel's own cache, so a second run (or other weights) replaces
            # it; the same weights are left as they are.
            done = self.run(self.painter + ["weights", "import", weights, "--force"])
            if done.ok:
                self.weights_ready = self.weights_ready or name == "fid"
                self.status.step(step, "ok", f"imported {weights}", time.time() - started)
            else:
                print(f"error: {step}: {done.error()}; {consequence}", file=sys.stderr, flush=True)
                self.status.step(step, "failed", done.error(), time.time() - started)

    def scoring(self):
        wanted = os.environ.get("PAINTER_SCORE", "0" if self.smoke else "1") != "0"
        return self.weights_ready and wanted

    def train_command(self, budget):
        """`painter train` for this kernel, with `budget` seconds."""
        wheel_dir = os.path.dirname(self.wheel) if self.wheel else self.input_dir
        dataset_config = os.path.join(wheel_dir, "configs", f"{self.config}.toml")
        config_arg = dataset_config if os.path.isfile(dataset_config) else self.config
        command = self.painter + ["train", config_arg, "--data", self.data_dir,
                                  "--out", self.run_dir]
        command += ["--time-budget", f"{int(budget)}s", "--strategy", STRATEGY[self.accelerator]]
        if self.backend == "jax":
            command += ["--backend", "jax"]
        for setting in shlex.split(_env("PAINTER_SETTINGS", SETTINGS)):
            command += ["--set", setting]
        if checkpoints(self.run_dir):  # a second run in the same session resumes
            command.append("--resume")
        elif os.path.isdir(self.run_dir):  # a run that never reached a checkpoint
            command.append("--force")
        if self.smoke:
            command += SMOKE_TRAIN_ARGS
        return command + shlex.split(os.environ.get("PAINTER_TRAIN_ARGS", ""))

    def train(self):
        started = time.time()
        budget = training_budget(self.budget, self.budget["cap"], self.elapsed(), self.scoring())
        if self.time_budget is not None:
            budget = min(budget, self.time_budget)
        if budget < MIN_TRAINING_SECONDS:
            self.fail(
                "train", f"no time left to train ({_clock(budget)} after the cap's margin and the "
                f"later steps' estimates)", started,
            )
            return
        # The kernel stops a run that overstays its budget, leaving part of the margin.
        deadline = time.time() + budget + self.budget["margin"] / 2
        cap = _clock(self.budget["cap"])
        self.title(f"train {self.config} (time budget {_clock(budget)} of the {cap} cap)")
        command = self.train_command(budget)
        if self.fault == "train-fails":
            command = [sys.executable, "-c",
                       "import sys; print('error: injected training failure'); sys.exit(1)"]
        elif self.fault == "train-hangs":
            command = [sys.executable, "-c", (
                "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN);"
                "print('training (injected hang)', flush=True); time.sleep(3600)"
            )]
        done = self.run(
            command, signs=[os.path.join(self.run_dir, "heartbeat.json"), self.run_dir,
                            os.path.join(self.run_dir, "checkpoints")],
            deadline=deadline, watchdog=self.watchdog,
        )
        if done.stopped == "hang":
            reason = f"no sign of life for {_clock(self.watchdog)}: stopped as hung"
            self.fail("train", reason, started)
        elif done.stopped == "clock":
            slack = _clock(self.budget["margin"] / 2)
            reason = f"stopped by the kernel at its budget's end (+{slack})"
            print(reason, flush=True)
            self.status.step("train", "ok", reason, time.time() - started)
        elif done.ok:
            runs = [line for line in done.lines if line.startswith("run: ")]
            summary = runs[-1] if runs else "done"
            self.status.step("train", "ok", summary, time.time() - started,
                             budget_seconds=int(budget))
        else:
            self.fail("train", done.error(), started)

    def write_zip(self, from_checkpoint=True):
        """images.zip from the run's best (else last) checkpoint, else the baseline."""
        self.title("images.zip")
        started = time.time()
        stale = os.path.join(self.working, "score.json")  # the score of a zip about to be replaced
        if os.path.exists(stale):
            os.remove(stale)
        if not from_checkpoint:
            # Not on the accelerator asked for: a generator may take hours on the CPU.
            print("writing the colour-matched baseline", flush=True)
        elif checkpoints(self.run_dir):
            done = self.run(self.painter + ["generate", self.run_dir, "--out", self.images,
                                            "--photos", self.data_dir, "--force"])
            if done.ok:
                loaded = [re.search(r"^loaded \S+ from (.+)$", line) for line in done.lines]
                source = next((m.group(1) for m in loaded if m), "checkpoint")
                self.status.data["zip"] = {"path": self.images, "source": f"checkpoint {source}"}
                self.status.step("generate", "ok", f"from {source}", time.time() - started)
                return True
            self.fail("generate", done.error(), started)
        else:
            print("no checkpoint to generate from: writing the colour-matched baseline", flush=True)
        return self.write_baseline()

    def write_baseline(self):
        started = time.time()
        done = self.run(self.painter + [
            "baseline", "color-match", "--out", self.images, "--photos", self.data_dir,
            "--monets", self.data_dir, "--force",
        ])
        if not done.ok:
            self.fail("baseline", done.error(), started)
            return False
        self.status.data["zip"] = {"path": self.images, "source": "baseline color-match"}
        reason = "colour-matched photos (painter baseline color-match)"
        self.status.step("baseline", "ok", reason, time.time() - started)
        if not self.failures:
            self.failures.append("images.zip is the colour-matched baseline, not a trained model's")
        return True

    def check(self):
        started = time.time()
        done = self.run(self.painter + ["check", self.images])
        if done.ok:
            self.status.data["zip"]["checked"] = True
            reason = done.lines[-1] if done.lines else "ok"
            self.status.step("check", "ok", reason, time.time() - started)
            return True
        self.status.data["zip"]["checked"] = False
        self.fail("check", done.error(), started)
        return False

    def score(self):
        if not self.scoring():
            return
        estimate = self.budget["score"]
        if self.left() < estimate:
            reason = (f"{_clock(self.left())} left before the cap's margin; "
                      f"scoring needs about {_clock(estimate)}")
            print(f"MiFID skipped: {reason}", flush=True)
            self.status.step("score", "skipped", reason, 0.0)
            return
        self.title("MiFID against the Monets")
        started = time.time()
        real = os.path.join(self.data_dir, "monet_jpg")
        done = self.run(self.painter + ["score", self.images, "--real", real, "--json"])
        result = done.last_json()
        if not done.ok or result is None:
            # The zip is fine; a missing score is reported, not a reason to fail the kernel.
            print(f"error: score: {done.error()}", file=sys.stderr, flush=True)
            self.status.step("score", "failed", done.error(), time.time() - started)
            return
        path = os.path.join(self.working, "score.json")
        temp = os.path.join(self.working, ".score.json.tmp")
        with open(temp, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
        os.replace(temp, path)
        self.status.data["score"] = result
        self.status.step("score", "ok", f"MiFID {result.get('mifid')}", time.time() - started)

    def main(self):
        smoke = " (smoke run)" if self.smoke else ""
        print(
            f"painter kernel: {self.config} on {self.accelerator}{smoke}, "
            f"cap {_clock(self.budget['cap'])}, margin {_clock(self.budget['margin'])}, "
            f"watchdog {_clock(self.watchdog)}", flush=True,
        )
        self.status.write()
        on_accelerator = self.install()
        if on_accelerator:
            self.import_weights()
            self.train()
        if self.write_zip(from_checkpoint=on_accelerator) and not self.check():
            baseline = self.status.data["zip"]["source"] == "baseline color-match"
            if not baseline and self.write_baseline():
                self.check()
        if not self.failures:
            self.score()
        self.title(f"done in {_clock(self.elapsed())}")
        score = os.path.join(self.working, "score.json")
        for path in (self.images, score, self.run_dir, self.status.path):
            if os.path.exists(path):
                print(f"  {path}")
        zip_info = self.status.data.get("zip") or {}
        if zip_info:
            checked = ", checked" if zip_info.get("checked") else ""
            print(f"images.zip: {zip_info['source']}{checked}")
        self.status.data["ok"] = not self.failures
        self.status.data["seconds"] = round(self.elapsed(), 1)
        self.status.write()
        if self.failures:
            print(f"error: the kernel ended with failures: {'; '.join(self.failures)}",
                  file=sys.stderr, flush=True)
            return 1
        return 0


def main():
    kernel = None
    try:
        kernel = Kernel()
        kernel.configure()
        return kernel.main()
    except (KernelError, OSError) as e:
        message = str(e)
    except KeyboardInterrupt:
        message = "interrupted"
    except Exception as e:  # noqa: BLE001 - the kernel's own bug: still one line, never a traceback
        message = f"{type(e).__name__}: {e}"
    print(f"error: {message}", file=sys.stderr, flush=True)
    if kernel is not None:
        kernel.status.data.update(ok=False, error=message, seconds=round(kernel.elapsed(), 1))
        try:
            kernel.status.write()
        except OSError:
            pass
    return 1


if __name__ == "__main__":
    sys.exit(main())
