#!/usr/bin/env bash
# The painter kernel under the package versions of Kaggle's GPU image, end to end.
#
#   scripts/kaggle_env_check.sh [--fresh]
#
# 1. builds a venv (python3.12 where there is one, else python3.11) in $PAINTER_KAGGLE_ENV
#    (default /tmp/painter-kaggle-env; --fresh rebuilds it) with exactly the versions
#    Kaggle's GPU image carries (KAGGLE_PINS below) and the kaggle client;
# 2. builds the bundle with this checkout's painter (`painter kaggle bundle`: the wheel, the
#    FID weights converted by this checkout's newest Keras, the tiny test config);
# 3. runs the kernel script with the venv's python on the embedded sample laid out like
#    /kaggle (the environment variables of tests/test_kaggle_kernel.py): the wheel is
#    installed with `pip install --no-deps` into the venv, the weights are imported;
# 4. scores the sample photos against the sample Monets with the converted weights under
#    both Keras versions and compares the two MiFIDs;
# 5. runs tests/test_jax_step.py in the venv with the oldest jax painter[jax] allows: every
#    family's train step on Keras' JAX backend equals TensorFlow's under Kaggle's Keras.
#
# Needs the converted weights (`painter weights fetch`) and the network for step 1 only.
# Writes everything under $WORK (default: a new temporary folder) and prints a summary.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEV_PYTHON="${DEV_PYTHON:-$REPO/.venv/bin/python}"
ENV_DIR="${PAINTER_KAGGLE_ENV:-/tmp/painter-kaggle-env}"
WORK="${WORK:-$(mktemp -d /tmp/painter-kaggle-check.XXXXXX)}"
KAGGLE_PINS=(tensorflow==2.20.0 keras==3.13.2 numpy==2.0.2 scipy==1.16.3 pillow==11.3.0 protobuf==5.29.5)
# What else painter imports (setup.cfg's install_requires beyond the pins; Kaggle's image
# carries matplotlib and tqdm too, at versions not pinned here).
OTHERS=(click kaggle matplotlib tqdm)

if [[ "${1:-}" == "--fresh" ]]; then
    rm -rf "$ENV_DIR"
fi

pick_python() {
    local candidate
    for candidate in python3.12 "$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12 \
                     python3.11 "$(pyenv root 2>/dev/null)"/versions/3.11*/bin/python3.11; do
        if "$candidate" -c "import venv" >/dev/null 2>&1; then
            command -v "$candidate" 2>/dev/null || echo "$candidate"
            return
        fi
    done
    echo "error: no python3.12 or python3.11 found" >&2
    exit 1
}

if [[ ! -x "$ENV_DIR/bin/python" ]]; then
    PYTHON="$(pick_python)"
    echo "== venv $ENV_DIR from $PYTHON"
    "$PYTHON" -m venv "$ENV_DIR"
    "$ENV_DIR/bin/python" -m pip install --quiet --upgrade pip
fi
echo "== installing ${KAGGLE_PINS[*]} ${OTHERS[*]}"
"$ENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "${KAGGLE_PINS[@]}" "${OTHERS[@]}"
# painter itself comes from the kernel's own `pip install --no-deps`; an earlier check's
# copy goes first, so the kernel installs this checkout's wheel.
"$ENV_DIR/bin/python" -m pip uninstall --quiet --yes painter >/dev/null 2>&1 || true

VERSIONS="$("$ENV_DIR/bin/python" - <<'EOF'
import sys, importlib.metadata as md
names = ["tensorflow", "keras", "numpy", "scipy", "pillow", "protobuf", "h5py", "ml_dtypes", "click", "kaggle", "matplotlib", "tqdm"]
print(f"Python {sys.version.split()[0]}; " + ", ".join(f"{n} {md.version(n)}" for n in names))
EOF
)"
echo "   $VERSIONS"

export TF_CPP_MIN_LOG_LEVEL=3
WEIGHTS="$("$DEV_PYTHON" -c 'from painter.metrics.weights import fid_weights_path; print(fid_weights_path())' 2>/dev/null)"
if [[ ! -f "$WEIGHTS" ]]; then
    echo "error: no converted FID weights at $WEIGHTS; run \`painter weights fetch\` first" >&2
    exit 1
fi

echo "== bundle (wheel built by $DEV_PYTHON, weights $WEIGHTS) in $WORK"
cat > "$WORK/tiny.toml" <<'EOF'
family = "cyclegan"
image_size = 32
gen_filters = 4
residual_blocks = 1
disc_filters = 4
disc_layers = 2
batch_size = 2
epochs = 1
decay_epochs = 0
pool_size = 0
diffaugment = ""
augment = false
jit_compile = false
sample_images = 2
keep_checkpoints = 1
EOF
"$DEV_PYTHON" -m painter kaggle bundle "$WORK/bundle" --config "$WORK/tiny.toml" --accelerator none \
    --username tester --weights "$WEIGHTS" --force

SAMPLE="$("$DEV_PYTHON" -c 'from painter.data import SAMPLE_ROOT; print(SAMPLE_ROOT)' 2>/dev/null)"
mkdir -p "$WORK/kaggle/input"
rm -rf "$WORK/kaggle/input/"* "$WORK/kaggle/working"
cp -r "$WORK/bundle/dataset" "$WORK/kaggle/input/painter-wheel"
cp -r "$SAMPLE" "$WORK/kaggle/input/gan-getting-started"

echo "== the kernel under $ENV_DIR/bin/python (log: $WORK/kernel.log)"
started=$(date +%s)
set +e
(
    cd "$WORK"
    env -u PYTHONPATH \
        PAINTER_KAGGLE_INPUT="$WORK/kaggle/input" \
        PAINTER_KAGGLE_WORKING="$WORK/kaggle/working" \
        PAINTER_CACHE="$WORK/cache" \
        PAINTER_TRAIN_ARGS="--steps-per-epoch 1" \
        PAINTER_SCORE=0 \
        PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$ENV_DIR/bin/python" "$WORK/bundle/kernel/painter_kernel.py"
) > "$WORK/kernel.log" 2>&1
kernel_status=$?
set -e
seconds=$(( $(date +%s) - started ))
grep -E "^painter .* from |^images.zip: |^error: " "$WORK/kernel.log" || true
if [[ $kernel_status -ne 0 ]]; then
    tail -40 "$WORK/kernel.log"
    echo "FAILED: the kernel exited with $kernel_status after ${seconds}s" >&2
    exit 1
fi
if ! grep -q "from $ENV_DIR/lib/python3.*/site-packages/painter/__init__.py" "$WORK/kernel.log"; then
    echo "FAILED: the kernel did not run the wheel installed in $ENV_DIR" >&2
    exit 1
fi

echo "== MiFID of the sample photos against the sample Monets, under both Keras versions"
score() {  # python cache → the MiFID
    PAINTER_CACHE="$2" "$1" -m painter score "$SAMPLE/photo_jpg" --real "$SAMPLE/monet_jpg" --json \
        --no-cache 2>/dev/null | tail -1 | "$DEV_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["mifid"])'
}
kaggle_mifid="$(cd "$WORK" && score "$ENV_DIR/bin/python" "$WORK/cache")"
dev_mifid="$(score "$DEV_PYTHON" "$(dirname "$WEIGHTS")")"
"$DEV_PYTHON" - "$kaggle_mifid" "$dev_mifid" <<'EOF'
import sys
kaggle, dev = map(float, sys.argv[1:])
print(f"   MiFID {kaggle:.6f} (Kaggle's versions) against {dev:.6f} (this checkout's): "
      f"difference {abs(kaggle - dev):.2e}")
if abs(kaggle - dev) > 1e-3 * max(1.0, abs(dev)):
    sys.exit("FAILED: the weights do not give the same MiFID under Kaggle's Keras")
EOF

# 5. Keras' JAX backend under the same Keras, with the oldest jax the `jax` extra allows
#    (Kaggle's TPU image has Keras 3 with jax[tpu]; numpy stays at the pin): one train step
#    of every family on JAX equals TensorFlow 2.20's (tests/test_jax_step.py).
JAX_PINS=(jax==0.6.2 jaxlib==0.6.2)
echo "== the train steps on Keras' JAX backend (${JAX_PINS[*]}) against TensorFlow, Keras $("$ENV_DIR/bin/python" -c 'import importlib.metadata as m; print(m.version("keras"))')"
"$ENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "${JAX_PINS[@]}" \
    "${KAGGLE_PINS[@]}" pytest google-crc32c
(cd "$REPO" && PYTHONPATH="$REPO" PAINTER_TEST_JAX_CACHE="$WORK/jax-cache" \
    "$ENV_DIR/bin/python" -m pytest -q -p no:cacheprovider tests/test_jax_step.py) \
    > "$WORK/jax_step.log" 2>&1 || { tail -30 "$WORK/jax_step.log"; echo "FAILED: the JAX steps" >&2; exit 1; }
tail -1 "$WORK/jax_step.log"

echo "OK $(date -u +%Y-%m-%dT%H:%MZ): the kernel ran end to end in ${seconds}s under $VERSIONS; the JAX steps equal TensorFlow's under ${JAX_PINS[*]}"
