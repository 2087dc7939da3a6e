"""painter as a Kaggle kernel: install offline, train, write images.zip, check, score.

`painter kaggle bundle` copies this file into the kernel folder with the three settings
below filled in. On Kaggle it runs with no internet:

1. installs painter from the wheel in the attached dataset (`pip install --no-deps`: Kaggle's
   own TensorFlow and Keras 3 stay; painter needs nothing else they lack);
2. imports the converted FID Inception weights from the dataset, when they are there;
3. trains CONFIG on the competition data with a time budget below the kernel limit
   (12 h with a GPU or CPU only, 9 h with a TPU), into /kaggle/working/painter_run
   (sample grids, loss curves, history.csv, checkpoints: all kept as kernel output);
4. writes /kaggle/working/images.zip, checks it as Kaggle will, and scores its MiFID
   against the Monets into /kaggle/working/score.json.

Every path can be moved by an environment variable, so the same script runs locally on a
folder laid out like Kaggle's:

    PAINTER_KAGGLE_INPUT    /kaggle/input (searched for painter-*.whl and the weights)
    PAINTER_KAGGLE_DATA     <input>/gan-getting-started
    PAINTER_KAGGLE_WORKING  /kaggle/working
    PAINTER_CONFIG          the config name (or path) to train; default CONFIG below
    PAINTER_TIME_BUDGET     the training time budget; default TIME_BUDGET below
    PAINTER_SETTINGS        config overrides for the accelerator; default SETTINGS below
    PAINTER_TRAIN_ARGS      extra `painter train` options, e.g. "--epochs 1"
    PAINTER_PIP_TARGET      install into this folder (pip --target) instead of site-packages
    PAINTER_SCORE           "0" skips scoring
    PAINTER_CACHE           painter's cache folder; default /tmp/painter_cache
"""

import glob
import json
import os
import shlex
import subprocess
import sys
import time

# Filled in by `painter kaggle bundle`.
CONFIG = "cyclegan"
TIME_BUDGET = "10h30m"
ACCELERATOR = "gpu"
# `painter train --set` overrides for the accelerator (space-separated KEY=VALUE).
SETTINGS = "mixed_precision=mixed_float16"


def _env(name, default):
    return os.environ.get(name) or default


def _find(root, pattern, exclude=None):
    """The newest file matching `pattern` anywhere under `root`, or None."""
    hits = [
        path
        for path in glob.glob(os.path.join(root, "**", pattern), recursive=True)
        if not (exclude and os.path.abspath(path).startswith(os.path.abspath(exclude) + os.sep))
    ]
    return max(hits, key=os.path.getmtime) if hits else None


def _step(title):
    print(f"\n==== {title} ({time.strftime('%H:%M:%S')}) ====", flush=True)


def _run(args, env, **kwargs):
    print("$ " + " ".join(shlex.quote(str(a)) for a in args), flush=True)
    return subprocess.run([str(a) for a in args], env=env, check=True, **kwargs)


def main():
    start = time.time()
    input_dir = _env("PAINTER_KAGGLE_INPUT", "/kaggle/input")
    data_dir = _env("PAINTER_KAGGLE_DATA", os.path.join(input_dir, "gan-getting-started"))
    working = _env("PAINTER_KAGGLE_WORKING", "/kaggle/working")
    config = _env("PAINTER_CONFIG", CONFIG)
    time_budget = _env("PAINTER_TIME_BUDGET", TIME_BUDGET)
    os.makedirs(working, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("PAINTER_CACHE", "/tmp/painter_cache")

    _step("install painter (offline)")
    wheel = _find(input_dir, "painter-*.whl", exclude=data_dir)
    if wheel is None:
        sys.exit(f"error: no painter-*.whl under {input_dir}; attach the painter dataset")
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet"]
    target = os.environ.get("PAINTER_PIP_TARGET")
    if target:
        pip += ["--target", target, "--upgrade"]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [target, env.get("PYTHONPATH")]))
    _run(pip + [wheel], env)
    painter = [sys.executable, "-m", "painter"]
    _run([sys.executable, "-c", "import painter; print('painter', painter.__version__, 'from', painter.__file__)"], env)

    weights = _find(input_dir, "fid_inception.weights.h5", exclude=data_dir)
    if weights:
        _step("FID Inception weights")
        _run(painter + ["weights", "import", weights], env)
    else:
        print("no fid_inception.weights.h5 in the inputs: the MiFID score will be skipped")

    _step(f"train {config} (time budget {time_budget})")
    dataset_config = os.path.join(os.path.dirname(wheel), "configs", f"{config}.toml")
    config_arg = dataset_config if os.path.isfile(dataset_config) else config
    run_dir = os.path.join(working, "painter_run")
    train = painter + ["train", config_arg, "--data", data_dir, "--out", run_dir]
    train += ["--time-budget", time_budget]
    for setting in shlex.split(_env("PAINTER_SETTINGS", SETTINGS)):
        train += ["--set", setting]
    if os.path.isdir(run_dir):  # the kernel was restarted in the same session
        train.append("--resume")
    train += shlex.split(os.environ.get("PAINTER_TRAIN_ARGS", ""))
    _run(train, env)

    _step("images.zip")
    images = os.path.join(working, "images.zip")
    _run(painter + ["generate", run_dir, "--out", images, "--photos", data_dir, "--force"], env)
    _run(painter + ["check", images], env)

    score_path = os.path.join(working, "score.json")
    if weights and os.environ.get("PAINTER_SCORE", "1") != "0":
        _step("MiFID against the Monets")
        real = os.path.join(data_dir, "monet_jpg")
        done = _run(painter + ["score", images, "--real", real, "--json"], env, stdout=subprocess.PIPE)
        score = json.loads(done.stdout.decode().strip().splitlines()[-1])
        with open(score_path, "w") as f:
            json.dump(score, f, indent=2)
        print(json.dumps(score))

    _step(f"done in {(time.time() - start) / 60:.1f} min")
    for path in (images, score_path, run_dir):
        if os.path.exists(path):
            print(f"  {path}")


if __name__ == "__main__":
    main()
