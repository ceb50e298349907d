"""Imaging and model commands: `flask model data|train|evaluate|calibrate|import|predict`.

Also `flask phantoms`. Thin click wrappers over the pipeline's functions (which know nothing of
the command line). TensorFlow is imported only when a command that needs it runs. Bad input
(missing folders or files, an invalid card, refused data) ends with one `Error: ...` line and
exit status 1; a wrong combination of options is a usage error (exit status 2).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from flask import Flask

from app.pipeline.classes import CLASSES

F = TypeVar("F", bound=Callable[..., Any])

_PATH = click.Path(path_type=Path)


def user_errors(fn: F) -> F:
    """Turn the pipeline's refusals of the user's input into one click error line (exit 1)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, FileNotFoundError, NotADirectoryError) as exc:
            raise click.ClickException(str(exc)) from exc

    return cast(F, wrapper)


@click.group("model")
def model() -> None:
    """Train, evaluate, import and run models (see docs/model.md)."""


DATA_TASKS = ("tumour-type",)
"""The models whose prepared training inputs `flask model data` writes (the others build theirs)."""


@model.command("data")
@click.option("--task", type=click.Choice(DATA_TASKS), required=True,
              help="which model's inputs: the tumour-type network's (prepared volumes, float16)")
@click.option("--out", required=True, type=_PATH, help="output file (.npz)")
@click.option("--n", type=click.IntRange(1), required=True, help="number of cases")
@click.option("--seed", type=int, required=True,
              help="seed of the phantoms (use distinct seeds for training, validation and test)")
@click.option("--kind", type=click.Choice(["id", "ood"]), default="id", show_default=True,
              help="id: balanced tumour types; ood: balanced out-of-distribution inputs")
@click.option("--voxel-mm", type=click.FloatRange(0, min_open=True), default=2.0,
              show_default=True, help="voxel size (mm) the phantoms are generated at")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True,
              help="parallel processes (the file does not depend on it)")
@user_errors
def data_command(task: str, out: Path, n: int, seed: int, kind: str, voxel_mm: float,
                 workers: int) -> None:
    """Generate phantoms from one seed and store a model's prepared inputs with labels (.npz).

    --task tumour-type: balanced phantoms of every tumour type (--kind id) or the
    out-of-distribution set (--kind ood), prepared as the tumour-type network reads them; the
    files `flask model train --task tumour-type` and `flask model evaluate` read.
    """
    if out.suffix != ".npz":  # numpy appends .npz to any other name
        raise click.BadParameter(f"{out} must end in .npz", param_hint="--out")
    from tqdm import tqdm

    from app.pipeline.training import tumour_type as training

    with tqdm(total=n, unit="case", desc=f"{task} {kind}", file=sys.stderr) as bar:
        path = training.make_dataset(
            out, n, seed, kind=kind, voxel_mm=voxel_mm, workers=workers,
            progress=lambda done, total: bar.update(done - bar.n))
    click.echo(f"wrote {n} {kind} cases (seed {seed}, {voxel_mm:g} mm) to {path}")


TRAIN_TASKS = ("subtype", "sequence", "segmentation", "tumour-type")
"""The models `flask model train` trains: the A/O/G classifier, the sequence CNN, the U-Net and
the tumour-type network."""

_PHANTOM_SEEDS = ("n_cases", "n_val", "train_seed", "val_seed", "test_seed")
# The options only some tasks read (the others are shared by every task).
_TASK_OPTIONS = {
    "subtype": ("data_dir", "labels_csv", "layout", "image_size", "val_fraction", "dropout",
                "uncertainty_k", "seed", "workers", "max_minutes", "imagenet_weights",
                "init_from", "save_float32", "freeze_batchnorm", "training_data", "demo"),
    "sequence": (*_PHANTOM_SEEDS, "n_test", "cache_dir"),
    "segmentation": (*_PHANTOM_SEEDS, "base_filters"),
    "tumour-type": ("train_data", "val_data", "seed", "refit"),
}
# Shared options whose default depends on the task (None: the task's config default).
_TASK_DEFAULTS = ("name", "epochs", "batch_size", "learning_rate", "patience")


def _given(ctx: click.Context, names: tuple[str, ...]) -> list[str]:
    """Return the options among `names` given on the command line (not left at the default)."""
    flags = {p.name: p.opts[0] for p in ctx.command.params}
    return [flags[n] for n in names
            if ctx.get_parameter_source(n) is click.core.ParameterSource.COMMANDLINE]


@model.command("train")
@click.option("--task", type=click.Choice(TRAIN_TASKS), default="subtype", show_default=True,
              help="which model: the A/O/G classifier, or (on phantoms only) the sequence CNN, "
                   "the segmentation U-Net or the tumour-type network")
@click.option("--data", "data_dir", type=_PATH, help="folder of cases (NIfTI) [subtype]")
@click.option("--labels", "labels_csv", type=_PATH,
              help="labels CSV (CPM-RadPath columns) [subtype]")
@click.option("--out", "out_dir", required=True, type=_PATH, help="output model folder")
@click.option("--name", help="model name for the card (default: the folder name; sequence: "
                             "sequence-demo)")
@click.option("--version", default="1.0", show_default=True)
@click.option("--layout", type=click.Choice(["channels4", "seed-strip"]), default="channels4",
              show_default=True)
@click.option("--image-size", type=int, default=96, show_default=True)
@click.option("--epochs", type=click.IntRange(1),
              help="[default: subtype 12, sequence 14, tumour-type 20]")
@click.option("--batch-size", type=click.IntRange(1),
              help="[default: subtype 16, sequence 32, tumour-type 16]")
@click.option("--learning-rate", type=float,
              help="[default: subtype 1e-3, sequence 2e-3, tumour-type 2e-3]")
@click.option("--val-fraction", type=float, default=0.15, show_default=True)
@click.option("--patience", type=click.IntRange(1), help="[default: subtype 3, sequence 4]")
@click.option("--dropout", type=float, default=0.3, show_default=True)
@click.option("--uncertainty-k", type=int, default=2, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="[subtype, tumour-type] seed of the initial weights and the batches")
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--max-minutes", type=float, help="stop fitting after this many minutes")
@click.option("--imagenet-weights", type=_PATH, help="local ResNet50 no-top weights file")
@click.option("--init-from", type=_PATH, help="start from this model folder's weights")
@click.option("--save-float32", type=_PATH, help="also save float32 weights here (.npz)")
@click.option("--freeze-batchnorm", is_flag=True, help="keep batch-norm statistics")
@click.option("--training-data", help="description of the training data for the card")
@click.option("--demo", is_flag=True, help="mark the model as a demonstration model")
@click.option("--n-cases", type=click.IntRange(1),
              help="[sequence, segmentation] training phantom cases [default: sequence 240 "
                   "(4 volumes each), segmentation 60]")
@click.option("--n-val", type=click.IntRange(1),
              help="[sequence, segmentation] validation cases [default: 24, 12]")
@click.option("--n-test", type=click.IntRange(1),
              help="[sequence] held-out test cases [default: 50]")
@click.option("--train-seed", type=int, help="[sequence, segmentation] seed of the training "
                                             "phantoms [default: 1401, 5101]")
@click.option("--val-seed", type=int, help="[sequence, segmentation] seed of the validation "
                                           "phantoms [default: 1402, 5202]")
@click.option("--test-seed", type=int, help="[sequence, segmentation] seed of the held-out test "
                                            "phantoms, never used for training or "
                                            "selection [default: 1403, 5303]")
@click.option("--cache-dir", type=_PATH, help="[sequence] cache the built phantom arrays here")
@click.option("--base-filters", type=click.IntRange(4),
              help="[segmentation] filters of the U-Net's first level [default: 16]")
@click.option("--train-data", type=_PATH, multiple=True,
              help="[tumour-type] training file from `flask model data` (--kind id; repeat to "
                   "train on several as one set, e.g. a 2 mm and a 1 mm one)")
@click.option("--val-data", type=_PATH, multiple=True,
              help="[tumour-type] validation file(s) from `flask model data` (--kind id; repeat "
                   "for several): epoch selection, calibration, OOD and low-confidence thresholds")
@click.option("--refit", is_flag=True,
              help="[tumour-type] keep the weights in --out; redo calibration, OOD statistics "
                   "and thresholds")
@click.pass_context
@user_errors
def train_command(ctx: click.Context, task: str, **options: Any) -> None:
    """Train a model; write weights and card.json.

    --task subtype (default): the ResNet50 A/O/G classifier on a labelled folder (--data,
    --labels). --task sequence: the sequence CNN (FLAIR/T1/T1ce/T2), and --task segmentation: the
    U-Net (BraTS labels), both on synthetic phantoms they generate from three distinct seeds; no
    data folder. --task tumour-type: the tumour-type network with its calibration and
    out-of-distribution statistics, on the files of `flask model data` (--train-data, --val-data).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    mine = _TASK_OPTIONS[task]
    other = tuple({n for names in _TASK_OPTIONS.values() for n in names if n not in mine})
    refused = _given(ctx, tuple(sorted(other, key=list(options).index)))
    if refused:
        raise click.UsageError(f"{', '.join(refused)} do not apply to --task {task}.")
    chosen = {k: v for k, v in options.items() if k not in other}
    if task == "tumour-type":
        _train_tumour_type(ctx, chosen)
        return
    for key in _TASK_DEFAULTS:
        if chosen.get(key) is None:
            chosen.pop(key, None)
    if task == "sequence":
        _train_sequence(chosen)
        return
    if task == "segmentation":
        _train_segmentation(chosen)
        return
    missing = [flag for flag, key in (("--data", "data_dir"), ("--labels", "labels_csv"))
               if chosen.get(key) is None]
    if missing:
        raise click.UsageError(f"--task subtype needs {' and '.join(missing)}.")
    from app.pipeline.training.train import TrainConfig, train

    card = train(TrainConfig(**chosen))
    val = card.metrics.get("validation", {})
    click.echo(
        f"wrote {options['out_dir']} — validation balanced accuracy "
        f"{val.get('balanced_accuracy', 0):.3f}, F1-micro {val.get('f1_micro', 0):.3f}, "
        f"kappa {val.get('kappa', 0):.3f}"
    )


def _train_sequence(options: dict[str, Any]) -> None:
    """Train the sequence CNN with `options` (SequenceTrainConfig fields, CLI names)."""
    from app.pipeline.training import sequence as training

    renamed = {"n_cases": "n_train"}
    config = training.SequenceTrainConfig(
        **{renamed.get(k, k): v for k, v in options.items() if v is not None}
    )
    card = training.train_sequence_model(config, progress=click.echo)
    test = card.metrics.get("test", {})
    click.echo(f"wrote {config.out_dir} — held-out test accuracy {test.get('accuracy', 0):.4f} "
               f"on {test.get('n', 0)} volumes (seed {config.test_seed})")


def _train_segmentation(options: dict[str, Any]) -> None:
    """Train the segmentation U-Net with `options` (SegmentationTrainConfig fields, CLI names)."""
    from app.pipeline.training import segmentation as training

    if "patience" in options:
        raise click.UsageError("--patience does not apply to --task segmentation (it keeps the "
                               "best validation epoch of --epochs).")
    renamed = {"n_cases": "n_train"}
    config = training.SegmentationTrainConfig(
        **{renamed.get(k, k): v for k, v in options.items() if v is not None}
    )
    card = training.train(config, progress=click.echo)
    click.echo(f"wrote {config.out_dir} — best epoch {card.training['best_epoch']}, validation "
               f"pooled Dice mean {card.training['best_val_pooled_coarse_dice_mean']:.3f}; "
               f"evaluate it with `flask model evaluate --model {config.out_dir} --data-seed "
               f"{config.test_seed}`")


def _train_tumour_type(ctx: click.Context, options: dict[str, Any]) -> None:
    """Train (or --refit) the tumour-type network on `flask model data` files; print a summary."""
    from app.pipeline.training import tumour_type as training

    # train_model names the model tumour-type-demo and stops by epoch selection, not patience.
    refused = _given(ctx, ("name", "version", "patience"))
    if refused:
        raise click.UsageError(f"{', '.join(refused)} do not apply to --task tumour-type.")
    missing = [flag for flag, key in (("--train-data", "train_data"), ("--val-data", "val_data"))
               if not options.get(key)]
    if missing:
        raise click.UsageError(f"--task tumour-type needs {' and '.join(missing)}.")
    tuning = {k: options[k] for k in ("epochs", "batch_size", "learning_rate")
              if options.get(k) is not None}
    card = training.train_model(list(options["train_data"]), list(options["val_data"]),
                                options["out_dir"], seed=options["seed"],
                                refit=options["refit"], **tuning)
    val = card.metrics.get("validation", {})
    click.echo(
        f"wrote {options['out_dir']} — validation balanced accuracy "
        f"{val.get('balanced_accuracy', 0):.3f} on {val.get('n', 0)} cases, temperature "
        f"{card.calibration['temperature']:.3f}, OOD threshold {card.ood['threshold']:.3f}; "
        f"evaluate it with `flask model evaluate --model {options['out_dir']} --test-data F.npz "
        "--ood-data F.npz`")


EVALUATE_OPTIONS = {
    "subtype": ("data_dir", "labels_csv", "confusion_png", "reliability_png", "data_seed",
                "write_card", "card_key", "workers", "data_description", "float32_reference"),
    "segmentation": ("data_dir", "n", "data_seed", "csv_path", "write_card"),
    "tumour-type": ("test_data", "ood_data", "reliability_png", "write_card", "card_key"),
}
"""The options `flask model evaluate` reads for each task (the task comes from the card)."""


@model.command("evaluate")
@click.option("--model", "model_dir", required=True, type=_PATH,
              help="model folder (card.json + weights); its card's task decides what is measured")
@click.option("--data", "data_dir", type=_PATH,
              help="folder of labelled cases [subtype: required; segmentation: BraTS layout with "
                   "*_seg.nii.gz, instead of phantoms]")
@click.option("--labels", "labels_csv", type=_PATH,
              help="[subtype] labels CSV (CPM-RadPath columns)")
@click.option("--confusion-png", type=_PATH,
              help="[subtype] where to save the confusion matrix PNG")
@click.option("--reliability-png", type=_PATH,
              help="[subtype, tumour-type] where to save the reliability diagram PNG (before / "
                   "after calibration)")
@click.option("--data-seed", type=int,
              help="seed the data were generated from (recorded with the metrics; also seeds "
                   "the bootstrap) [segmentation: the seed of the phantoms to generate, never "
                   "the training or validation seed]")
@click.option("--n", type=click.IntRange(1), default=None,
              help="[segmentation] number of phantoms to generate [default: 100]")
@click.option("--csv", "csv_path", type=_PATH,
              help="[segmentation] write the per-case Dice / HD95 rows here")
@click.option("--write-card", is_flag=True, help="store the metrics in the card")
@click.option("--card-key",
              help="[subtype, tumour-type] key under the card's metrics for --write-card "
                   "[default: subtype evaluation, tumour-type test; its OOD figures go under "
                   "ood_KEY]")
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--data-description", help="[subtype] description of the data for the card")
@click.option("--float32-reference", type=_PATH,
              help="[subtype] float32 weights (.npz from train --save-float32) to measure the "
                   "stored weights' probability error against")
@click.option("--test-data", type=_PATH, multiple=True,
              help="[tumour-type] held-out file(s) from `flask model data` (--kind id; repeat "
                   "for several)")
@click.option("--ood-data", type=_PATH,
              help="[tumour-type] held-out out-of-distribution file from `flask model data "
                   "--kind ood`")
@click.pass_context
@user_errors
def evaluate_command(ctx: click.Context, model_dir: Path, **options: Any) -> None:
    """Measure a model on held-out data and print its figures.

    Subtype: F1-micro, kappa, balanced accuracy, per-class P/R with 95% CIs, and ECE on a labelled
    folder. Segmentation: Dice and HD95 (mm) of WT, TC and ET per case (--csv) and summarised
    (mean, median), on --n phantoms of --data-seed or on a BraTS-layout --data folder.
    Tumour-type: balanced accuracy and per-type recall with 95% CIs, ECE before / after
    calibration, and OOD AUROC, false-alarm and detection rates, on `flask model data` files.
    """
    _check_png(options.get("confusion_png"), "--confusion-png")
    _check_png(options.get("reliability_png"), "--reliability-png")
    from app.pipeline.models.registry import read_card

    task = read_card(model_dir).task
    if task not in EVALUATE_OPTIONS:
        raise click.ClickException(
            f"flask model evaluate measures {', '.join(EVALUATE_OPTIONS)} models; {model_dir} "
            f"is a {task} model (its figures are measured when it is trained)")
    mine = EVALUATE_OPTIONS[task]
    other = tuple(n for n in options if n not in mine and n != "workers")
    refused = _given(ctx, other)
    if refused:
        raise click.UsageError(f"{', '.join(refused)} do not apply to a {task} model.")
    logging.basicConfig(level=logging.WARNING)
    if task == "segmentation":
        _evaluate_segmentation(model_dir, options)
        return
    if task == "tumour-type":
        _evaluate_tumour_type(model_dir, options)
        return
    missing = [flag for flag, key in (("--data", "data_dir"), ("--labels", "labels_csv"))
               if options.get(key) is None]
    if missing:
        raise click.UsageError(f"a subtype model needs {' and '.join(missing)}.")
    from app.pipeline.training.evaluation import evaluate, format_metrics

    chosen = {k: v for k, v in options.items() if k in mine}
    if chosen["card_key"] is None:
        chosen.pop("card_key")
    data_dir, labels_csv = chosen.pop("data_dir"), chosen.pop("labels_csv")
    click.echo(format_metrics(evaluate(model_dir, data_dir, labels_csv, **chosen)))


def _evaluate_segmentation(model_dir: Path, options: dict[str, Any]) -> None:
    """Score the U-Net on phantoms of --data-seed (or a labelled folder); print the summary."""
    from app.pipeline.training import segmentation as training

    if options["data_dir"] is not None:
        if options["write_card"] or options["data_seed"] is not None or options["n"]:
            raise click.UsageError("--data (a labelled folder) goes without --n, --data-seed and "
                                   "--write-card.")
        result = training.evaluate_folder(model_dir, options["data_dir"],
                                          csv_path=options["csv_path"], progress=click.echo)
    else:
        if options["data_seed"] is None:
            raise click.UsageError("a segmentation model needs --data-seed (the seed of the "
                                   "held-out phantoms) or --data (a labelled folder).")
        result = training.evaluate_phantoms(
            model_dir, n=options["n"] or 100, seed=options["data_seed"],
            csv_path=options["csv_path"], update_card=options["write_card"], progress=click.echo)
    click.echo(json.dumps(result, indent=2))


def _evaluate_tumour_type(model_dir: Path, options: dict[str, Any]) -> None:
    """Score the tumour-type model on held-out `flask model data` files; print the result JSON."""
    from app.pipeline.training import tumour_type as training

    missing = [flag for flag, key in (("--test-data", "test_data"), ("--ood-data", "ood_data"))
               if not options[key]]
    if missing:
        raise click.UsageError(f"a tumour-type model needs {' and '.join(missing)}.")
    result = training.evaluate_model(
        model_dir, list(options["test_data"]), options["ood_data"],
        png=options["reliability_png"], write=options["write_card"],
        key=options["card_key"] or "test")
    click.echo(json.dumps(result, indent=2))


@model.command("calibrate")
@click.option("--model", "model_dir", required=True, type=_PATH,
              help="model folder (card.json + weights)")
@click.option("--data", "data_dir", required=True, type=_PATH,
              help="folder of labelled validation cases (never used for training or testing)")
@click.option("--labels", "labels_csv", required=True, type=_PATH,
              help="labels CSV (CPM-RadPath columns)")
@click.option("--data-seed", type=int, required=True,
              help="seed the validation data were generated from (recorded in the card)")
@click.option("--data-description", help="description of the data for the card")
@click.option("--workers", type=int, default=2, show_default=True)
@user_errors
def calibrate_command(model_dir: Path, data_dir: Path, labels_csv: Path, **options: Any) -> None:
    """Fit the temperature and the low-confidence thresholds on validation data; update the card."""
    from app.pipeline.training.evaluation import calibrate

    logging.basicConfig(level=logging.WARNING)
    card = calibrate(model_dir, data_dir, labels_csv, **options)
    cal = card.calibration
    if cal is None:  # calibrate always sets it; a clear line rather than a traceback
        raise click.ClickException("calibration was not recorded")
    click.echo(
        f"temperature {cal.temperature:.3f} on {cal.fitted_on['n']} cases (seed "
        f"{cal.fitted_on['seed']}): ECE {cal.ece_before:.3f} -> {cal.ece_after:.3f}; "
        f"low_confidence margin {card.low_confidence['margin']:.3f}, "
        f"agreement {card.low_confidence['agreement']:.2f}"
    )


def _check_png(path: Path | None, option: str) -> None:
    """Refuse an output path that is not a .png file in an existing folder (before any work)."""
    if path is None:
        return
    if path.suffix.lower() != ".png":
        raise click.BadParameter(f"{path} must end in .png", param_hint=option)
    if not path.parent.is_dir():
        raise click.BadParameter(f"folder {path.parent} does not exist", param_hint=option)


@model.command("import")
@click.option("--json", "json_path", required=True, type=_PATH, help="model.to_json() output")
@click.option("--weights", "weights_path", required=True, type=_PATH,
              help="model.save_weights() HDF5 file")
@click.option("--out", "out_dir", required=True, type=_PATH, help="output model folder")
@click.option("--layout", type=click.Choice(["seed-strip", "channels4"]), default="seed-strip",
              show_default=True)
@click.option("--name", help="model name (default: the folder name)")
@click.option("--classes", default=",".join(CLASSES), show_default=True,
              help="the model's output order, comma-separated")
@click.option("--normalisation", type=click.Choice(["minmax", "robust-z", "none"]),
              default="minmax", show_default=True)
@click.option("--slice-method", type=click.Choice(["seed", "robust"]), default="seed",
              show_default=True)
@click.option("--uncertainty-k", type=int, default=2, show_default=True)
@click.option("--training-data", default="unknown (imported from the original notebook)")
@click.option("--no-check", is_flag=True, help="skip the phantom prediction")
@user_errors
def import_command(
    json_path: Path, weights_path: Path, out_dir: Path, classes: str, no_check: bool,
    **options: Any,
) -> None:
    """Import a Keras 2 model (to_json + save_weights h5) as a GliomaLens model folder."""
    from app.pipeline.training.import_model import import_model

    logging.basicConfig(level=logging.WARNING)
    card, result = import_model(
        json_path, weights_path, out_dir,
        classes=[c.strip().upper() for c in classes.split(",")], check=not no_check, **options,
    )
    click.echo(f"wrote {out_dir} ({card.layout}, {card.image_size}px, {card.classes})")
    if result is not None:
        probs = ", ".join(f"{k} {v:.3f}" for k, v in result.probabilities.items())
        click.echo(f"phantom check: class {result.label} ({probs})")


@model.command("predict")
@click.argument("dirs", nargs=-1, required=True, type=_PATH)
@click.option("--model", "model_dirs", multiple=True, type=_PATH,
              help="model folder; repeat for several tasks (default: the shipped models)")
@click.option("--out", "out_root", type=_PATH, help="write artefacts to OUT/<case folder name>/")
@user_errors
def predict_command(dirs: tuple[Path, ...], model_dirs: tuple[Path, ...], out_root: Path | None
                    ) -> None:
    """Analyse case folders (…_flair/_t1/_t1ce/_t2.nii.gz, BraTS 2023 names, ...).

    Prints one JSON line per case; exit status 1 when any case was refused.
    """
    from app.pipeline.analysis.batch import json_default, predict_dirs
    from app.pipeline.models.card import ModelCard
    from app.pipeline.models.registry import load_models

    logging.basicConfig(level=logging.WARNING)
    mapping = {ModelCard.load(d).task: d for d in model_dirs} if model_dirs else None
    models = load_models(mapping)
    failed = False
    for row in predict_dirs(dirs, models, out_root):
        failed |= "error" in row
        click.echo(json.dumps(row, default=json_default))
        sys.stdout.flush()
    if failed:
        sys.exit(1)


@click.command("phantoms")
@click.option("--out", "out_dir", required=True, type=_PATH, help="output folder")
@click.option("--n", type=int, default=30, show_default=True, help="number of cases")
@click.option("--seed", type=int, default=0, show_default=True, help="random seed")
@click.option("--workers", type=int, default=1, show_default=True, help="parallel processes")
@click.option("--voxel-mm", type=float, default=1.0, show_default=True, help="voxel size (mm)")
@user_errors
def phantoms(out_dir: Path, n: int, seed: int, workers: int, voxel_mm: float) -> None:
    """Write synthetic glioma phantom cases (CPM-RadPath layout) and labels.csv."""
    from tqdm import tqdm

    from app.pipeline.synthetic.phantoms import write_dataset

    with tqdm(total=n, unit="case", desc="phantoms", file=sys.stderr) as bar:
        labels = write_dataset(
            out_dir, n, seed, progress=lambda done, total: bar.update(done - bar.n),
            workers=workers, voxel_mm=voxel_mm,
        )
    click.echo(f"wrote {n} cases and {labels}")


def register_pipeline_commands(app: Flask) -> None:
    """Add the `flask model ...` group and `flask phantoms` to `app`'s CLI."""
    app.cli.add_command(model)
    app.cli.add_command(phantoms)
