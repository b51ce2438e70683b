"""The model zoo: YAML manifests in ``assets/models`` describe each shipped variant.

A manifest is data, not code (read with ``yaml.safe_load`` only): name,
architecture, input size, class names, weights file with its sha256, licence
and provenance. ``list_models`` is what the CLI and the GUI picker show.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .defaults import MAX_IMGSZ, is_input_size
from .errors import ModelError
from .models.config import BACKBONE_NAMES, ModelConfig
from .models.presets import PRESETS

MODELS_DIR_ENV = "LIVEDET_MODELS_DIR"
MAX_MANIFEST_BYTES = 1 << 20  # shipped manifests are a few KB; anything this big is not one
MAX_METRICS_ITEMS = 10_000  # bounds the walk over ``metrics`` (YAML aliases can make it exponential)
MAX_METRICS_DEPTH = 16
# Upper bounds keep a hostile manifest from asking ``build_model`` for terabytes.
ARCH_LIMITS = {"num_classes": (1, 10_000), "neck_width": (1, 4096), "head_depth": (0, 16)}
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


def default_models_dir() -> Path:
    """``$LIVEDET_MODELS_DIR``, else the bundled ``assets/models`` (source tree or PyInstaller bundle)."""
    if os.environ.get(MODELS_DIR_ENV):
        return Path(os.environ[MODELS_DIR_ENV])
    bundle_root = getattr(sys, "_MEIPASS", None)
    root = Path(bundle_root) if bundle_root else Path(__file__).resolve().parents[1]
    return root / "assets" / "models"


@dataclass(frozen=True)
class ModelSpec:
    """One model variant as described by its manifest (or by a weights file's own metadata)."""

    name: str
    config: ModelConfig
    input_size: int  # square side in pixels, a multiple of 32
    class_names: tuple[str, ...]
    weights_path: Path | None
    weights_sha256: str | None = None
    description: str = ""
    license: str = ""
    provenance: str = ""
    metrics: dict = field(default_factory=dict, compare=False)
    manifest_path: Path | None = None

    @property
    def weights_available(self) -> bool:
        return self.weights_path is not None and self.weights_path.is_file()

    def summary(self) -> dict:
        """JSON-ready description for ``detector info`` and the GUI."""
        return {
            "name": self.name,
            "backbone": self.config.backbone,
            "input_size": self.input_size,
            "classes": len(self.class_names),
            "weights": str(self.weights_path) if self.weights_path else None,
            "weights_available": self.weights_available,
            "metrics": self.metrics,
        }


_KIND_WORDS = {str: "text", int: "a whole number", dict: "a mapping", list: "a list"}


def _require(data: dict, key: str, kind: type, source: str):
    if key not in data:
        raise ModelError(f"{source}: manifest is missing '{key}'")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ModelError(f"{source}: '{key}' should be {_KIND_WORDS[kind]}, got {type(value).__name__}")
    return value


def _optional_text(data: dict, key: str, source: str) -> str:
    """Free text (description, licence, provenance): a scalar, never a structure (it may be an alias bomb)."""
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)):
        raise ModelError(f"{source}: '{key}' should be text, got {type(value).__name__}")
    return str(value)


def check_config(data, source: str) -> ModelConfig:
    """``ModelConfig`` from an architecture mapping, checked so that ``build_model`` cannot fail on it."""
    if not isinstance(data, dict):
        raise ModelError(f"{source}: 'architecture' should be a mapping, got {type(data).__name__}")
    try:
        config = ModelConfig.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{source}: bad architecture: {exc}") from None
    if not isinstance(config.backbone, str):
        raise ModelError(f"{source}: bad architecture: backbone should be text, got {type(config.backbone).__name__}")
    if config.backbone not in BACKBONE_NAMES:
        known = ", ".join(BACKBONE_NAMES)
        raise ModelError(f"{source}: bad architecture: unknown backbone '{config.backbone[:80]}' (choose from {known})")
    for key, (low, high) in ARCH_LIMITS.items():
        value = getattr(config, key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ModelError(f"{source}: bad architecture: {key} should be a whole number, got {type(value).__name__}")
        if value < low:
            raise ModelError(f"{source}: bad architecture: {key} must be at least {low}, got {value}")
        if value > high:
            raise ModelError(f"{source}: bad architecture: {key} must be at most {high}, got {value}")
    return config


def check_class_names(names, source: str) -> tuple[str, ...]:
    """A list of names (numbers are accepted and become text); nested structures are refused unread."""
    if not isinstance(names, (list, tuple)) or not all(
        isinstance(n, (str, int, float)) and not isinstance(n, bool) for n in names
    ):
        raise ModelError(f"{source}: class_names must be a list of names")
    return tuple(str(n) for n in names)


def check_input_size(value, source: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ModelError(f"{source}: 'input_size' should be a whole number, got {type(value).__name__}")
    if value > MAX_IMGSZ:
        raise ModelError(f"{source}: input_size must be at most {MAX_IMGSZ}, got {value}")
    if not is_input_size(value):
        raise ModelError(f"{source}: input_size must be a positive multiple of 32, got {value}")
    return value


def _plain_metrics(value, source: str) -> dict:
    """A JSON-ready copy of ``metrics``, refusing structures too large or too deep to be metrics."""
    budget = [MAX_METRICS_ITEMS]

    def copy(item, depth: int):
        budget[0] -= 1
        if budget[0] < 0:
            raise ModelError(f"{source}: 'metrics' is too large (more than {MAX_METRICS_ITEMS} entries)")
        if depth > MAX_METRICS_DEPTH:
            raise ModelError(f"{source}: 'metrics' is nested too deeply")
        if isinstance(item, dict):
            return {str(k): copy(v, depth + 1) for k, v in item.items()}
        if isinstance(item, (list, tuple, set)):
            return [copy(v, depth + 1) for v in item]
        if item is None or isinstance(item, (str, int, float, bool)):
            return item
        return str(item)  # dates and the like, so that ``summary()`` stays JSON

    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ModelError(f"{source}: 'metrics' should be a mapping, got {type(value).__name__}")
    return copy(value, 0)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    if not problem:
        return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return problem[:200] + where


def _load_yaml(path: Path):
    """The manifest's data, parsed with ``yaml.safe_load`` only: tags that construct objects are refused."""
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise ModelError(f"{path.name} is too large to be a manifest ({size / (1 << 20):.1f} MiB)")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read manifest {path.name}: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError(f"{path.name} is not valid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise ModelError(f"{path.name} is not valid YAML: nested too deeply") from None


def read_manifest(path: str | Path) -> ModelSpec:
    """Parse and validate one manifest; any problem becomes a one-line ``ModelError``."""
    path = Path(path)
    data = _load_yaml(path)
    source = path.name
    if not isinstance(data, dict):
        raise ModelError(f"{source}: a manifest must be a mapping")
    if "name" not in data and "names" in data:  # picked by mistake: it looks like the data, not the model
        raise ModelError(f"{source} describes a dataset (a YOLO data.yaml), not a model: "
                         "use it with `train --data` or `val --data`")
    name = _require(data, "name", str, source).strip()
    if not name:
        raise ModelError(f"{source}: 'name' is empty")
    config = check_config(_require(data, "architecture", dict, source), source)
    input_size = check_input_size(_require(data, "input_size", int, source), source)
    class_names = check_class_names(_require(data, "class_names", list, source), source)
    if len(class_names) != config.num_classes:
        raise ModelError(
            f"{source}: {len(class_names)} class names but the architecture has {config.num_classes} classes"
        )
    weights = data.get("weights") or {}
    if not isinstance(weights, dict):
        raise ModelError(f"{source}: 'weights' should be a mapping with 'file' and 'sha256'")
    weights_file, sha256 = weights.get("file"), weights.get("sha256")
    if weights_file is not None and not isinstance(weights_file, str):
        raise ModelError(f"{source}: weights.file should be text, got {type(weights_file).__name__}")
    if sha256 is not None and not (isinstance(sha256, str) and SHA256_RE.fullmatch(sha256)):
        raise ModelError(f"{source}: weights.sha256 should be 64 hex digits (or left out), got {str(sha256)[:80]!r}")
    return ModelSpec(
        name=name,
        config=config,
        input_size=input_size,
        class_names=class_names,
        weights_path=(path.parent / weights_file) if weights_file else None,
        weights_sha256=sha256.lower() if sha256 else None,
        description=_optional_text(data, "description", source),
        license=_optional_text(data, "license", source),
        provenance=_optional_text(data, "provenance", source),
        metrics=_plain_metrics(data.get("metrics"), source),
        manifest_path=path,
    )


def missing_models_dir(models_dir: str | Path | None = None) -> str | None:
    """Why no model can be found when the models folder itself is not there, else None.

    Why: a mistyped ``--models-dir`` or a stale ``$LIVEDET_MODELS_DIR`` read as an empty folder, so the
    message was "no trained weights installed … train it", which sends a person the wrong way.
    """
    folder = Path(models_dir or default_models_dir())
    if folder.is_dir():
        return None
    from_env = not models_dir and os.environ.get(MODELS_DIR_ENV)
    if from_env:
        return f"models folder not found: {folder} (set by ${MODELS_DIR_ENV})"
    if not models_dir and "site-packages" in Path(__file__).parts:  # `pip install .` copies the code, not assets/
        return (f"models folder not found: {folder}: LiveDet was installed without its assets/ folder (pip install "
                f"copies only the code); install it from a checkout with pip install -e ., or set ${MODELS_DIR_ENV}")
    return f"models folder not found: {folder}"


def list_models(models_dir: str | Path | None = None) -> list[ModelSpec]:
    """Every valid manifest, sorted by name. Broken manifests are skipped, and so is a second manifest of a
    name already taken (in file name order): the picker showed both, and choosing either ran the first
    (see ``manifest_problems``)."""
    specs: dict[str, ModelSpec] = {}
    for path in sorted(Path(models_dir or default_models_dir()).glob("*.yaml")):
        try:
            spec = read_manifest(path)
        except ModelError:
            continue
        specs.setdefault(spec.name, spec)
    return sorted(specs.values(), key=lambda s: s.name)


def manifest_problems(models_dir: str | Path | None = None) -> list[str]:
    """One message per manifest that ``list_models`` had to skip."""
    problems: list[str] = []
    first_of: dict[str, Path] = {}
    for path in sorted(Path(models_dir or default_models_dir()).glob("*.yaml")):
        try:
            name = read_manifest(path).name
        except ModelError as exc:
            problems.append(str(exc))
            continue
        if name in first_of:
            problems.append(f"{path.name}: model '{name}' is already defined by {first_of[name].name}; give this "
                            "one another name")
        first_of.setdefault(name, path)
    return problems


def find_model(name: str, models_dir: str | Path | None = None) -> ModelSpec:
    """Manifest by name, with a helpful message listing the known names otherwise."""
    specs = list_models(models_dir)
    for spec in specs:
        if spec.name == name:
            return spec
    if not specs and (missing := missing_models_dir(models_dir)):
        raise ModelError(missing)
    manifest = Path(models_dir or default_models_dir()) / f"{name}.yaml"
    if manifest.is_file():  # there, but skipped as broken: say what is wrong with it, not "unknown model"
        read_manifest(manifest)
    known = ", ".join(s.name for s in specs) or "none"
    if not specs:  # a folder without manifests: "train it" sent the user the wrong way
        folder = Path(models_dir or default_models_dir())
        broken = manifest_problems(models_dir)
        holds = (f"holds no usable model manifest ({len(broken)} skipped as broken: {broken[0]}"
                 f"{', …' if len(broken) > 1 else ''})" if broken else "holds no model manifests")
        raise ModelError(f"no model '{name}': {folder} {holds} (no {name}.yaml); "
                         "--models-dir or $LIVEDET_MODELS_DIR names the folder holding them (assets/models)")
    if name in PRESETS:  # a variant that can be trained but has no weights in this install
        raise ModelError(f"'{name}' has no trained weights installed (known: {known}); train it with "
                         f"`python -m detector train --model {name} ...` and pass the .safetensors it writes")
    raise ModelError(f"unknown model '{name}' (known: {known}; or pass a .safetensors/.pt/.onnx path)")


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_weights(spec: ModelSpec) -> Path:
    """The weights path, after checking it exists and matches the manifest's sha256."""
    if spec.weights_path is None:
        raise ModelError(f"model '{spec.name}' names no weights file")
    if not spec.weights_path.is_file():
        raise ModelError(f"weights for '{spec.name}' not found: {spec.weights_path}")
    if spec.weights_sha256:
        try:
            actual = sha256_of(spec.weights_path)
        except OSError as exc:
            raise ModelError(f"cannot read weights {spec.weights_path.name}: {exc.strerror or exc}") from None
        if actual != spec.weights_sha256:
            manifest = spec.manifest_path.name if spec.manifest_path else f"model '{spec.name}'"
            raise ModelError(
                f"{spec.weights_path.name}: sha256 checksum does not match the one in {manifest} "
                f"(file {actual[:12]}…, manifest {spec.weights_sha256[:12]}…); the file is corrupt or was replaced"
            )
    return spec.weights_path


def write_manifest(
    path: str | Path,
    *,
    name: str,
    config: ModelConfig,
    input_size: int,
    class_names: tuple[str, ...] | list[str],
    weights_file: str | Path | None,
    description: str = "",
    license: str = "",
    provenance: str = "",
    metrics: dict | None = None,
) -> Path:
    """Write a manifest (with the weights' sha256 when the file exists) and return its path."""
    path = Path(path)
    weights = None
    if weights_file is not None:
        weights_path = path.parent / weights_file
        weights = {"file": str(weights_file), "sha256": sha256_of(weights_path) if weights_path.is_file() else None}
    data = {
        "name": name,
        "description": description,
        "architecture": config.to_dict(),
        "input_size": int(input_size),
        "class_names": list(class_names),
        "weights": weights,
        "license": license,
        "provenance": provenance,
        "metrics": metrics or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
