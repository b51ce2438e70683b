"""The model zoo: YAML manifests in ``assets/models`` describe each shipped variant.

A manifest is data, not code (read with ``yaml.safe_load`` only): name,
architecture, input size, class names, weights file with its sha256, licence
and provenance. ``list_models`` is what the CLI and the GUI picker show.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ModelError
from .models import ModelConfig

MODELS_DIR_ENV = "LIVEDET_MODELS_DIR"


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


def _require(data: dict, key: str, kind: type, source: str):
    if key not in data:
        raise ModelError(f"{source}: manifest is missing '{key}'")
    value = data[key]
    if not isinstance(value, kind):
        raise ModelError(f"{source}: '{key}' should be {kind.__name__}, got {type(value).__name__}")
    return value


def read_manifest(path: str | Path) -> ModelSpec:
    """Parse and validate one manifest; any problem becomes a one-line ``ModelError``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read manifest {path.name}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ModelError(f"{path.name} is not valid YAML: {str(exc).splitlines()[0]}") from None
    source = path.name
    if not isinstance(data, dict):
        raise ModelError(f"{source}: a manifest must be a mapping")
    name = _require(data, "name", str, source)
    arch = _require(data, "architecture", dict, source)
    try:
        config = ModelConfig.from_dict(arch)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{source}: bad architecture: {exc}") from None
    input_size = _require(data, "input_size", int, source)
    if input_size <= 0 or input_size % 32:
        raise ModelError(f"{source}: input_size must be a positive multiple of 32, got {input_size}")
    class_names = tuple(str(c) for c in _require(data, "class_names", list, source))
    if len(class_names) != config.num_classes:
        raise ModelError(
            f"{source}: {len(class_names)} class names but the architecture has {config.num_classes} classes"
        )
    weights = data.get("weights") or {}
    if not isinstance(weights, dict):
        raise ModelError(f"{source}: 'weights' should be a mapping with 'file' and 'sha256'")
    weights_path = (path.parent / str(weights["file"])) if weights.get("file") else None
    return ModelSpec(
        name=name,
        config=config,
        input_size=input_size,
        class_names=class_names,
        weights_path=weights_path,
        weights_sha256=str(weights["sha256"]).lower() if weights.get("sha256") else None,
        description=str(data.get("description", "")),
        license=str(data.get("license", "")),
        provenance=str(data.get("provenance", "")),
        metrics=dict(data.get("metrics") or {}),
        manifest_path=path,
    )


def list_models(models_dir: str | Path | None = None) -> list[ModelSpec]:
    """Every valid manifest, sorted by name. Broken manifests are skipped (see ``manifest_problems``)."""
    specs = []
    for path in sorted(Path(models_dir or default_models_dir()).glob("*.yaml")):
        try:
            specs.append(read_manifest(path))
        except ModelError:
            continue
    return sorted(specs, key=lambda s: s.name)


def manifest_problems(models_dir: str | Path | None = None) -> list[str]:
    """One message per manifest that ``list_models`` had to skip."""
    problems = []
    for path in sorted(Path(models_dir or default_models_dir()).glob("*.yaml")):
        try:
            read_manifest(path)
        except ModelError as exc:
            problems.append(str(exc))
    return problems


def find_model(name: str, models_dir: str | Path | None = None) -> ModelSpec:
    """Manifest by name, with a helpful message listing the known names otherwise."""
    specs = list_models(models_dir)
    for spec in specs:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in specs) or "none"
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
        actual = sha256_of(spec.weights_path)
        if actual != spec.weights_sha256:
            raise ModelError(
                f"weights for '{spec.name}' fail their checksum ({spec.weights_path.name}: sha256 {actual[:12]}…, "
                f"manifest says {spec.weights_sha256[:12]}…); the file is corrupt or was replaced"
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
