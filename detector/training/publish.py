"""Install trained weights into the model zoo: fp16 safetensors + a manifest with measured metrics.

``python -m detector.training.publish --weights runs/train/x/best.safetensors --name yolo-mnv3-small
--annotations val.json --images val/`` evaluates the exact file it installs, so the manifest's
mAP is what ``python -m detector val --model NAME`` prints.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from ..checkpoint import WeightsMeta, load_state_into, read_weights, save_weights
from ..errors import LiveDetError
from ..models import build_model
from ..outputs import check_folder_can_be_made, folder_problem
from ..zoo import default_models_dir, write_manifest

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # it names the model's two files and is typed after --model
# the shipped models' terms (the model card's command passes them); a model of other data states its own
VOC_LICENSE = "MIT (weights); trained on PASCAL VOC 2007 trainval: annotations CC BY 4.0, images from Flickr under their owners' terms"


def publish(
    weights: str | Path,
    name: str,
    *,
    models_dir: str | Path | None = None,
    description: str = "",
    provenance: str = "",
    license: str = "",
    metrics: dict | None = None,
) -> Path:
    """Write ``<name>.safetensors`` (fp16) and ``<name>.yaml`` into ``models_dir``; returns the manifest path."""
    if not NAME.fullmatch(name):
        raise LiveDetError(f"the model name must be letters, digits, '.', '_' or '-' (it names the model's files), "
                           f"got '{name}'")
    state, meta = read_weights(weights)
    if meta is None:
        raise LiveDetError(f"{weights} has no LiveDet metadata")
    model = build_model(meta.config)
    load_state_into(model, state, Path(weights).name)
    out_dir = Path(models_dir or default_models_dir())
    weights_file = f"{name}.safetensors"
    extra = {"provenance": provenance, "metrics": metrics or {}}
    save_weights(out_dir / weights_file, model, WeightsMeta(meta.config, meta.class_names, meta.input_size, extra), half=True)
    return write_manifest(
        out_dir / f"{name}.yaml",
        name=name,
        config=meta.config,
        input_size=meta.input_size,
        class_names=meta.class_names,
        weights_file=weights_file,
        description=description,
        license=license,
        provenance=provenance,
        metrics=metrics or {},
    )


def _measured(manifest: Path, args: argparse.Namespace) -> dict:
    """The manifest's ``metrics``: the mAP that ``val`` prints for this model on the data asked for."""
    from ..errors import SourceError
    from ..evaluate import EvalSettings, evaluate_coco, evaluate_dataset
    from ..loader import load_model
    from ..predictor import Predictor

    predictor, settings = Predictor(load_model(manifest)), EvalSettings(progress=sys.stderr.isatty())
    if args.data:
        from ..datasets import load_dataset

        def refuse(problem: str) -> None:  # as val refuses it: the mAP of fewer images than asked would mislead
            raise SourceError(f"{problem} (the measurement scores every image of the split)")

        data = load_dataset(args.data, split=args.split, on_skip=refuse)
        result = evaluate_dataset(predictor, data, settings)
        dataset = args.dataset_name or ", ".join(filter(None, (Path(args.data).name, data.split)))
    else:
        result = evaluate_coco(predictor, Path(args.annotations), Path(args.images), settings)
        dataset = args.dataset_name or Path(args.annotations).name
    print(result.table(), file=sys.stderr)
    return {"dataset": f"{dataset} ({result.images:,} images)", "map50": round(result.map50, 4),
            "map50_95": round(result.map50_95, 4), "per_class_ap50": {c.name: round(c.ap50, 4) for c in result.per_class}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector.training.publish", description=__doc__,
                                     allow_abbrev=False)  # "--model DIR" was taken for --models-dir
    parser.add_argument("--weights", required=True, help="a training run's best.safetensors (or last.pt)")
    parser.add_argument("--name", required=True, help="the model's name: its files' names and what --model takes")
    parser.add_argument("--models-dir", default=None, help="where to install it (default: the app's models folder)")
    parser.add_argument("--description", default="")
    parser.add_argument("--provenance", default="", help="how it was trained (the command, GPU minutes)")
    parser.add_argument("--license", default="",
                        help="the weights' terms and the data's, for the manifest (none by default: only you know "
                             "them); --license voc gives the shipped models' text")
    parser.add_argument("--annotations", help="COCO val json: measure mAP of the installed file")
    parser.add_argument("--images", help="val images folder")
    parser.add_argument("--data", help="or a dataset as `val --data` takes it (a YOLO or VOC folder, a data.yaml, a "
                                       "COCO folder): measure mAP on its --split")
    parser.add_argument("--split", default="val", help="the split of --data to measure on (default: val)")
    parser.add_argument("--replace", action="store_true",
                        help="install over a model of that name (without it, an existing name is refused: the "
                             "shipped yolo-mnv3-small was replaced without a word)")
    parser.add_argument("--dataset-name", default=None,
                        help="what the mAP was measured on, for the manifest and model card (default: the "
                             "--annotations file's name, or --data's folder and split)")
    args = parser.parse_args(argv)
    coco_flag = "--annotations"
    if args.data and not args.annotations and Path(args.data).suffix.lower() == ".json":  # as val takes it
        args.annotations, args.data, coco_flag = args.data, None, "--data"
    if args.annotations and not args.images:  # --data x.json was sent to --images, and then back to --data
        print(f"error: {coco_flag} {Path(args.annotations).name} (a COCO file) needs --images DIR: the folder "
              "holding the images it lists", file=sys.stderr)
        return 2
    if args.images and not args.annotations:
        print("error: --images goes with --annotations (the COCO file that lists them)", file=sys.stderr)
        return 2
    if args.data and args.annotations:
        print("error: measure on --annotations with --images, or on --data, not both", file=sys.stderr)
        return 2
    license = VOC_LICENSE if args.license == "voc" else args.license
    folder = Path(args.models_dir or default_models_dir())
    existing = folder / f"{args.name}.yaml"
    if existing.exists() and not args.replace:
        print(f"error: a model named {args.name} is installed already ({existing}): choose another --name, or add "
              "--replace to install over it", file=sys.stderr)
        return 2
    try:
        check_folder_can_be_made(folder)  # said before the measurement, not after it ("File exists: /dev/full")
        metrics = {}
        if args.annotations or args.data:  # measured first, from a folder of its own: a measurement that fails
            with tempfile.TemporaryDirectory(prefix="livedet-publish-") as trial:  # installs nothing
                metrics = _measured(publish(args.weights, args.name, models_dir=trial), args)
        manifest = publish(args.weights, args.name, models_dir=args.models_dir, description=args.description,
                           provenance=args.provenance, license=license, metrics=metrics)
    except LiveDetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk while installing: nothing half-written is left (see save_weights)
        print(f"error: cannot install {args.name} in {folder}: {folder_problem(folder, exc)}", file=sys.stderr)
        return 2
    print(json.dumps({"manifest": str(manifest), **{k: v for k, v in metrics.items() if k != "per_class_ap50"}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
