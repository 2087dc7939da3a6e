"""Configuration: loading, checking and writing configs (`configs/*.toml`).

A config file is flat TOML. `family` picks the family (`painter.families`) and so its
frozen dataclass; every other key must be one of its fields, with a value of the field's
type. Unknown keys are a ConfigError naming the key. The resolved config is written beside
each run's checkpoints with non-defaults marked; it ends with the run's records, which
loading leaves out: a [run] table (its backend and devices, `painter.rundir.run_toml`)
and, for a restarted run, a [restart] table (`painter.rundir.restart_toml`).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Union

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from painter.errors import ConfigError
from painter.families import FAMILIES, get_family
from painter.families.cyclegan import CycleGANConfig
from painter.families.noise_gan import NoiseGANConfig

CONFIG_DIR = Path(__file__).parent / "configs"


# A config is an instance of its family's dataclass (`painter.families`); these two are
# imported here too because most code and every test names them through this module.
Config = Union[CycleGANConfig, NoiseGANConfig]


def resolve_config_path(name: str | Path) -> Path:
    """A config path, or the name of a shipped config (`quick`, `cyclegan.toml`)."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    if shipped.is_file():
        return shipped
    known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.toml")))
    raise ConfigError(f"{name}: no such config file (shipped configs: {known})")


def config_from_dict(values: dict[str, Any], source: str = "config") -> Config:
    """Builds the family's dataclass from `values`, checking every key and type."""
    values = dict(values)
    family = values.get("family", "cyclegan")
    if family not in FAMILIES:
        raise ConfigError(f"{source}: unknown family {family!r} (known: {', '.join(FAMILIES)})")
    cls = FAMILIES[family].config_class
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{source}: unknown key {key!r} for family {family!r}")
        want = type(fields[key].default)
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
        elif want is tuple and isinstance(value, (list, tuple)):
            values[key] = tuple(value)  # a TOML array; frozen configs hold tuples
        elif want is tuple:
            raise ConfigError(f"{source}: key {key!r} must be an array, got {value!r}")
        elif not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise ConfigError(
                f"{source}: key {key!r} must be {want.__name__}, got {value!r}"
            )
    config = cls(**values)
    _check_choices(config, source)
    return config


def _check_choices(config: Config, source: str) -> None:
    """Names that pick a builder, loss or policy must be known (the family and the
    builders' registries decide), and the family's settings must go together."""
    from painter.models.diffaugment import AUGMENTATIONS

    family = get_family(config.family)
    from painter.families.base import SCHEDULE_DECAYS

    choices = {"mixed_precision": ("", "mixed_float16", "mixed_bfloat16"),
               "decay": SCHEDULE_DECAYS, **family.choices()}
    for key, known in choices.items():
        value = getattr(config, key, None)
        if value is not None and value not in known:
            raise ConfigError(
                f"{source}: key {key!r} must be one of {', '.join(map(repr, known))}, got {value!r}"
            )
    try:
        family.ema_decay(config)
        family.check(config)
    except ValueError as error:
        raise ConfigError(f"{source}: {error}") from None
    # Only the families that augment for their discriminator have a DiffAugment policy.
    for name in (n.strip() for n in getattr(config, "diffaugment", "").split(",") if n.strip()):
        if name not in AUGMENTATIONS:
            raise ConfigError(
                f"{source}: key 'diffaugment' has unknown transform {name!r} "
                f"(known: {', '.join(AUGMENTATIONS)})"
            )
    for key in ("image_size", "batch_size", "epochs"):
        if getattr(config, key) < 1:
            raise ConfigError(f"{source}: key {key!r} must be at least 1, got {getattr(config, key)}")


def load_config(path: str | Path, **overrides: Any) -> Config:
    """Loads a TOML config (path or shipped name), then applies non-None `overrides`."""
    path = resolve_config_path(path)
    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    for table in ("run", "restart"):  # a run's records (`painter.rundir.RECORD_TABLES`)
        if isinstance(values.get(table), dict):
            del values[table]
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    source = str(path) + (f" (overridden: {', '.join(given)})" if given else "")
    return config_from_dict(values, source=source)


def parse_override(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` → (key, value), VALUE read as a TOML value (`1e-3`, `true`, `"resize"`);
    a bare word that is no TOML value is taken as a string (`upsample=resize`)."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key or not raw:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. batch_size=8")
    try:
        return key, tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return key, raw


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):  # an inline table
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def config_to_toml(config: Config) -> str:
    """The resolved config as TOML; values that differ from the defaults are marked."""
    defaults = type(config)()
    lines = [f"# resolved {type(config).__name__}; '# changed' marks non-defaults"]
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        mark = "" if value == getattr(defaults, field.name) else "  # changed"
        lines.append(f"{field.name} = {_toml_value(value)}{mark}")
    return "\n".join(lines) + "\n"
