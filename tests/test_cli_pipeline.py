"""`flask model data|train|evaluate|calibrate|import|predict` and `flask phantoms` (runner)."""

import csv
import json

import pytest

from app.commands.pipeline import model

MODEL_COMMANDS = sorted(model.commands)


def test_flask_phantoms_writes_a_cpm_radpath_folder(runner, tmp_path):
    out = tmp_path / "phantoms"
    result = runner.invoke(args=["phantoms", "--out", str(out), "--n", "2", "--seed", "3",
                                 "--voxel-mm", "2"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 cases" in result.output
    with open(out / "labels.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    for row in rows:
        for seq in ("flair", "t1", "t1ce", "t2", "seg"):
            assert (out / f"{row['CPM_RadPath_2019_ID']}_{seq}.nii.gz").is_file()


def test_the_model_group_has_the_six_commands():
    assert MODEL_COMMANDS == ["calibrate", "data", "evaluate", "import", "predict", "train"]


@pytest.mark.parametrize("args", [["phantoms"], *(["model", name] for name in MODEL_COMMANDS)])
def test_every_pipeline_command_has_help(runner, args):
    result = runner.invoke(args=[*args, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage:") and "--" in result.output


def test_bad_arguments_exit_non_zero(runner):
    result = runner.invoke(args=["phantoms", "--n", "2"])  # --out is required
    assert result.exit_code == 2 and "Missing option '--out'" in result.output


@pytest.mark.parametrize("args, message", [
    (["model", "evaluate", "--model", "{tmp}/none", "--data", "{tmp}", "--labels", "{tmp}/l.csv"],
     "no model card at"),
    (["model", "train", "--data", "{tmp}/none", "--labels", "{tmp}/l.csv", "--out", "{tmp}/m"],
     "none"),
    (["model", "predict", "{tmp}", "--model", "{tmp}/none"], "no model card at"),
    (["model", "import", "--json", "{tmp}/none.json", "--weights", "{tmp}/w.h5",
      "--out", "{tmp}/m"], "cannot read model JSON"),
])
def test_bad_paths_get_one_clear_line(runner, tmp_path, args, message):
    result = runner.invoke(args=[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output



@pytest.fixture
def sequence_training(monkeypatch):
    """Record the config `flask model train --task sequence` builds, instead of training."""
    from app.pipeline.models.sequence import SequenceCard
    from app.pipeline.training import sequence as training

    seen = {}

    def fake_train(config, progress=None):
        seen["config"] = config
        return SequenceCard(name=config.name, metrics={"test": {"accuracy": 0.995, "n": 200}})

    monkeypatch.setattr(training, "train_sequence_model", fake_train)
    return seen


def test_train_task_sequence_builds_its_config(runner, tmp_path, sequence_training):
    result = runner.invoke(args=[
        "model", "train", "--task", "sequence", "--out", str(tmp_path / "seq"),
        "--n-cases", "12", "--n-val", "3", "--n-test", "4", "--train-seed", "11",
        "--val-seed", "12", "--test-seed", "13", "--epochs", "2", "--name", "seq-small"])
    assert result.exit_code == 0, result.output
    config = sequence_training["config"]
    assert (config.n_train, config.n_val, config.n_test) == (12, 3, 4)
    assert (config.train_seed, config.val_seed, config.test_seed) == (11, 12, 13)
    assert config.epochs == 2 and config.name == "seq-small"
    assert str(config.out_dir) == str(tmp_path / "seq")
    assert config.batch_size == 32 and config.learning_rate == 2e-3  # the task's defaults
    assert "held-out test accuracy 0.9950 on 200 volumes (seed 13)" in result.output


def test_train_task_sequence_defaults(runner, tmp_path, sequence_training):
    from app.pipeline.training.sequence import SequenceTrainConfig

    result = runner.invoke(args=["model", "train", "--task", "sequence", "--out",
                                 str(tmp_path / "seq")])
    assert result.exit_code == 0, result.output
    defaults = SequenceTrainConfig(out_dir=tmp_path / "seq")
    assert sequence_training["config"].describe() == {**defaults.describe(),
                                                      "out_dir": str(tmp_path / "seq")}


@pytest.mark.parametrize("args, message", [
    (["--task", "sequence", "--data", "{tmp}"], "--data do not apply to --task sequence"),
    (["--task", "sequence", "--layout", "seed-strip", "--demo"],
     "--layout, --demo do not apply to --task sequence"),
    (["--n-cases", "3", "--data", "{tmp}", "--labels", "{tmp}/l.csv"],
     "--n-cases do not apply to --task subtype"),
    (["--data", "{tmp}"], "--task subtype needs --labels"),
    ([], "--task subtype needs --data and --labels"),
    (["--task", "sequence", "--epochs", "0"], "0 is not in the range x>=1"),
    (["--task", "segmentation", "--cache-dir", "{tmp}", "--n-test", "3"],
     "--cache-dir, --n-test do not apply to --task segmentation"),
    (["--task", "sequence", "--base-filters", "8"],
     "--base-filters do not apply to --task sequence"),
    (["--task", "segmentation", "--patience", "2"], "--patience does not apply"),
    (["--task", "tumour"],
     "'tumour' is not one of 'subtype', 'sequence', 'segmentation', 'tumour-type'"),
])
def test_train_refuses_options_of_the_other_task(runner, tmp_path, sequence_training, args,
                                                 message):
    result = runner.invoke(args=["model", "train", "--out", str(tmp_path / "m"),
                                 *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "config" not in sequence_training


@pytest.fixture
def segmentation_training(monkeypatch):
    """Record what `flask model train|evaluate` hand the segmentation task, instead of running."""
    from app.pipeline.lesion.segmentation_card import SegmentationCard
    from app.pipeline.training import segmentation as training

    seen: dict = {}

    def fake_train(config, progress=None):
        seen["config"] = config
        return SegmentationCard(name=config.name, training={
            "best_epoch": 7, "best_val_pooled_coarse_dice_mean": 0.912})

    def fake_evaluate(model_dir, **kwargs):
        seen["evaluate"] = (model_dir, kwargs)
        return {"cases": kwargs.get("n"), "seed": kwargs.get("seed")}

    def fake_folder(model_dir, folder, **kwargs):
        seen["folder"] = (model_dir, folder, kwargs)
        return {"cases": 2}

    monkeypatch.setattr(training, "train", fake_train)
    monkeypatch.setattr(training, "evaluate_phantoms", fake_evaluate)
    monkeypatch.setattr(training, "evaluate_folder", fake_folder)
    return seen


def test_train_task_segmentation_builds_its_config(runner, tmp_path, segmentation_training):
    from app.pipeline.training.segmentation import SegmentationTrainConfig

    result = runner.invoke(args=[
        "model", "train", "--task", "segmentation", "--out", str(tmp_path / "seg"),
        "--n-cases", "9", "--n-val", "3", "--train-seed", "21", "--val-seed", "22",
        "--test-seed", "23", "--epochs", "2", "--base-filters", "8", "--version", "1.1"])
    assert result.exit_code == 0, result.output
    config = segmentation_training["config"]
    expected = SegmentationTrainConfig(
        out_dir=tmp_path / "seg", n_train=9, n_val=3, train_seed=21, val_seed=22, test_seed=23,
        epochs=2, base_filters=8, version="1.1")
    assert config.describe() == expected.describe()
    assert "best epoch 7, validation pooled Dice mean 0.912" in result.output
    assert "--data-seed 23" in result.output


SEGMENTATION_MODEL = "models/segmentation-demo"


def test_evaluate_a_segmentation_model_on_phantoms(runner, tmp_path, segmentation_training):
    result = runner.invoke(args=[
        "model", "evaluate", "--model", SEGMENTATION_MODEL, "--n", "5", "--data-seed", "77",
        "--csv", str(tmp_path / "scores.csv"), "--write-card"])
    assert result.exit_code == 0, result.output
    model_dir, kwargs = segmentation_training["evaluate"]
    assert str(model_dir) == SEGMENTATION_MODEL
    assert kwargs["n"] == 5 and kwargs["seed"] == 77 and kwargs["update_card"] is True
    assert str(kwargs["csv_path"]) == str(tmp_path / "scores.csv")
    assert '"cases": 5' in result.output


def test_evaluate_a_segmentation_model_on_a_folder(runner, tmp_path, segmentation_training):
    result = runner.invoke(args=["model", "evaluate", "--model", SEGMENTATION_MODEL, "--data",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert str(segmentation_training["folder"][1]) == str(tmp_path)


@pytest.mark.parametrize("args, message", [
    ([], "needs --data-seed"),
    (["--data-seed", "5", "--labels", "l.csv"], "--labels do not apply to a segmentation model"),
    (["--data-seed", "5", "--confusion-png", "{tmp}/cm.png"], "--confusion-png do not apply"),
    (["--data", "{tmp}", "--data-seed", "5"], "goes without --n, --data-seed"),
])
def test_evaluate_a_segmentation_model_refuses(runner, tmp_path, segmentation_training, args,
                                               message):
    result = runner.invoke(args=["model", "evaluate", "--model", SEGMENTATION_MODEL,
                                 *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not segmentation_training


def test_evaluate_a_subtype_model_needs_its_data(runner, tmp_path):
    result = runner.invoke(args=["model", "evaluate", "--model", "models/glioma-demo",
                                 "--data-seed", "4"])
    assert result.exit_code == 2 and "a subtype model needs --data and --labels" in result.output
    result = runner.invoke(args=["model", "evaluate", "--model", "models/glioma-demo", "--n", "3",
                                 "--data", str(tmp_path), "--labels", f"{tmp_path}/l.csv"])
    assert result.exit_code == 2 and "--n do not apply to a subtype model" in result.output


def test_evaluate_refuses_a_model_it_cannot_measure(runner):
    result = runner.invoke(args=["model", "evaluate", "--model", "models/sequence-demo"])
    assert result.exit_code == 1
    assert "is a sequence model" in result.output


def test_train_task_sequence_refuses_equal_seeds(runner, tmp_path):
    result = runner.invoke(args=["model", "train", "--task", "sequence", "--out",
                                 str(tmp_path / "m"), "--val-seed", "5", "--test-seed", "5"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: train, validation and test seeds must be distinct"


def test_evaluate_help_names_the_honest_figures_options(runner):
    result = runner.invoke(args=["model", "evaluate", "--help"])
    assert "--reliability-png" in result.output and "--data-seed" in result.output


@pytest.mark.parametrize("option, value, message", [
    ("--reliability-png", "{tmp}/rel.txt", "must end in .png"),
    ("--reliability-png", "{tmp}/missing/rel.png", "does not exist"),
    ("--confusion-png", "{tmp}/cm.jpg", "must end in .png"),
    ("--data-seed", "two", "'two' is not a valid integer"),
])
def test_evaluate_refuses_bad_output_options_before_any_work(runner, tmp_path, option, value,
                                                             message):
    args = ["model", "evaluate", "--model", f"{tmp_path}/none", "--data", str(tmp_path),
            "--labels", f"{tmp_path}/l.csv", option, value.format(tmp=tmp_path)]
    result = runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    assert message in result.output and option in result.output
    assert "no model card" not in result.output  # refused before the model is opened


def test_calibrate_needs_the_seed_of_its_data(runner, tmp_path):
    result = runner.invoke(args=["model", "calibrate", "--model", str(tmp_path), "--data",
                                 str(tmp_path), "--labels", f"{tmp_path}/l.csv"])
    assert result.exit_code == 2 and "Missing option '--data-seed'" in result.output
    result = runner.invoke(args=["model", "calibrate", "--model", f"{tmp_path}/none", "--data",
                                 str(tmp_path), "--labels", f"{tmp_path}/l.csv",
                                 "--data-seed", "7"])
    assert result.exit_code == 1 and result.output.startswith("Error: no model card at")


@pytest.fixture
def tumour_type_training(monkeypatch):
    """Record what `flask model data|train|evaluate` hand the tumour-type task (no real work)."""
    from app.pipeline.models.tumour_type import TumourTypeCard
    from app.pipeline.training import tumour_type as training

    seen: dict = {}

    def fake_make_dataset(out, n, seed, **kwargs):
        seen["data"] = (out, n, seed, kwargs)
        kwargs["progress"](n, n)
        return out

    def fake_train(train_path, val_paths, out_dir, **kwargs):
        seen["train"] = (train_path, val_paths, out_dir, kwargs)
        return TumourTypeCard(
            name="tumour-type-demo", calibration={"temperature": 1.234},
            ood={"threshold": 5.678}, metrics={"validation": {"n": 30, "balanced_accuracy": 0.9}})

    def fake_evaluate(model_dir, test_paths, ood_path, **kwargs):
        seen["evaluate"] = (model_dir, test_paths, ood_path, kwargs)
        key = kwargs["key"]
        return {key: {"n": 12, "balanced_accuracy": 0.95}, f"ood_{key}": {"auroc": 0.99}}

    monkeypatch.setattr(training, "make_dataset", fake_make_dataset)
    monkeypatch.setattr(training, "train_model", fake_train)
    monkeypatch.setattr(training, "evaluate_model", fake_evaluate)
    return seen


def test_data_task_tumour_type_hands_make_dataset_its_options(runner, tmp_path,
                                                              tumour_type_training):
    out = tmp_path / "ood.npz"
    result = runner.invoke(args=["model", "data", "--task", "tumour-type", "--out", str(out),
                                 "--n", "6", "--seed", "1504", "--kind", "ood", "--voxel-mm", "1",
                                 "--workers", "2"])
    assert result.exit_code == 0, result.output
    path, n, seed, kwargs = tumour_type_training["data"]
    assert (str(path), n, seed) == (str(out), 6, 1504)
    assert (kwargs["kind"], kwargs["voxel_mm"], kwargs["workers"]) == ("ood", 1.0, 2)
    assert f"wrote 6 ood cases (seed 1504, 1 mm) to {out}" in result.output


def test_data_task_tumour_type_defaults(runner, tmp_path, tumour_type_training):
    result = runner.invoke(args=["model", "data", "--task", "tumour-type", "--out",
                                 str(tmp_path / "train.npz"), "--n", "3", "--seed", "1501"])
    assert result.exit_code == 0, result.output
    kwargs = tumour_type_training["data"][3]
    assert (kwargs["kind"], kwargs["voxel_mm"], kwargs["workers"]) == ("id", 2.0, 1)


@pytest.mark.parametrize("args, message", [
    (["--out", "{tmp}/d.npz", "--n", "3", "--seed", "1"], "Missing option '--task'"),
    (["--task", "subtype", "--out", "{tmp}/d.npz", "--n", "3", "--seed", "1"],
     "'subtype' is not 'tumour-type'"),
    (["--task", "tumour-type", "--out", "{tmp}/d.npz", "--n", "3"], "Missing option '--seed'"),
    (["--task", "tumour-type", "--out", "{tmp}/d.npz", "--n", "0", "--seed", "1"],
     "0 is not in the range x>=1"),
    (["--task", "tumour-type", "--out", "{tmp}/d.npz", "--n", "3", "--seed", "1", "--kind",
      "odd"], "'odd' is not one of 'id', 'ood'"),
    (["--task", "tumour-type", "--out", "{tmp}/d.npz", "--n", "3", "--seed", "1",
      "--voxel-mm", "0"], "0.0 is not in the range x>0"),
    (["--task", "tumour-type", "--out", "{tmp}/d.zip", "--n", "3", "--seed", "1"],
     "must end in .npz"),
])
def test_data_refuses_bad_options(runner, tmp_path, tumour_type_training, args, message):
    result = runner.invoke(args=["model", "data", *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not tumour_type_training


def test_train_task_tumour_type_hands_train_model_its_options(runner, tmp_path,
                                                              tumour_type_training):
    out = tmp_path / "tt"
    result = runner.invoke(args=[
        "model", "train", "--task", "tumour-type", "--train-data", f"{tmp_path}/train.npz",
        "--val-data", f"{tmp_path}/val.npz", "--val-data", f"{tmp_path}/val2.npz", "--out",
        str(out), "--epochs", "24", "--seed", "7", "--refit"])
    assert result.exit_code == 0, result.output
    train_paths, val_paths, out_dir, kwargs = tumour_type_training["train"]
    assert [str(p) for p in train_paths] == [f"{tmp_path}/train.npz"]
    assert [str(p) for p in val_paths] == [f"{tmp_path}/val.npz", f"{tmp_path}/val2.npz"]
    assert str(out_dir) == str(out)
    assert kwargs == {"epochs": 24, "seed": 7, "refit": True}
    assert "validation balanced accuracy 0.900 on 30 cases, temperature 1.234" in result.output
    assert f"flask model evaluate --model {out}" in result.output


def test_train_task_tumour_type_leaves_the_tuning_to_train_model(runner, tmp_path,
                                                                 tumour_type_training):
    result = runner.invoke(args=["model", "train", "--task", "tumour-type", "--train-data",
                                 "t.npz", "--val-data", "v.npz", "--out", str(tmp_path / "tt")])
    assert result.exit_code == 0, result.output
    # no epochs, batch size or learning rate: train_model's own defaults apply
    assert tumour_type_training["train"][3] == {"seed": 0, "refit": False}


@pytest.mark.parametrize("args, message", [
    (["--val-data", "v.npz"], "--task tumour-type needs --train-data."),
    (["--train-data", "t.npz"], "--task tumour-type needs --val-data."),
    ([], "--task tumour-type needs --train-data and --val-data."),
    (["--train-data", "t.npz", "--val-data", "v.npz", "--n-cases", "3", "--data", "{tmp}"],
     "--n-cases, --data do not apply to --task tumour-type"),
    (["--train-data", "t.npz", "--val-data", "v.npz", "--name", "x", "--patience", "2"],
     "--name, --patience do not apply to --task tumour-type"),
    (["--train-data", "t.npz", "--val-data", "v.npz", "--version", "1.1"],
     "--version do not apply to --task tumour-type"),
])
def test_train_task_tumour_type_refuses(runner, tmp_path, tumour_type_training, args, message):
    result = runner.invoke(args=["model", "train", "--task", "tumour-type", "--out",
                                 str(tmp_path / "m"), *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not tumour_type_training


@pytest.mark.parametrize("task, args, message", [
    ("sequence", ["--train-data", "t.npz"], "--train-data do not apply to --task sequence"),
    ("segmentation", ["--val-data", "v.npz", "--refit"],
     "--val-data, --refit do not apply to --task segmentation"),
    ("subtype", ["--data", "{tmp}", "--labels", "l.csv", "--refit"],
     "--refit do not apply to --task subtype"),
])
def test_other_tasks_refuse_tumour_type_options(runner, tmp_path, tumour_type_training,
                                                sequence_training, task, args, message):
    result = runner.invoke(args=["model", "train", "--task", task, "--out", str(tmp_path / "m"),
                                 *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not tumour_type_training and not sequence_training


TUMOUR_TYPE_MODEL = "models/tumour-type-demo"


def test_evaluate_a_tumour_type_model(runner, tmp_path, tumour_type_training):
    png = tmp_path / "rel.png"
    result = runner.invoke(args=[
        "model", "evaluate", "--model", TUMOUR_TYPE_MODEL, "--test-data", "test.npz",
        "--test-data", "test1mm.npz", "--ood-data", "oodtest.npz", "--reliability-png", str(png),
        "--write-card", "--card-key", "test_brats_size"])
    assert result.exit_code == 0, result.output
    model_dir, test_paths, ood_path, kwargs = tumour_type_training["evaluate"]
    assert str(model_dir) == TUMOUR_TYPE_MODEL
    assert [str(p) for p in test_paths] == ["test.npz", "test1mm.npz"]
    assert str(ood_path) == "oodtest.npz"
    assert kwargs == {"png": png, "write": True, "key": "test_brats_size"}
    assert json.loads(result.output) == {"test_brats_size": {"n": 12, "balanced_accuracy": 0.95},
                                         "ood_test_brats_size": {"auroc": 0.99}}


def test_evaluate_a_tumour_type_model_leaves_the_card_alone_by_default(runner,
                                                                       tumour_type_training):
    result = runner.invoke(args=["model", "evaluate", "--model", TUMOUR_TYPE_MODEL,
                                 "--test-data", "test.npz", "--ood-data", "ood.npz"])
    assert result.exit_code == 0, result.output
    assert tumour_type_training["evaluate"][3] == {"png": None, "write": False, "key": "test"}


@pytest.mark.parametrize("args, message", [
    ([], "a tumour-type model needs --test-data and --ood-data."),
    (["--test-data", "t.npz"], "a tumour-type model needs --ood-data."),
    (["--test-data", "t.npz", "--ood-data", "o.npz", "--data-seed", "3", "--n", "4"],
     "--data-seed, --n do not apply to a tumour-type model"),
    (["--test-data", "t.npz", "--ood-data", "o.npz", "--confusion-png", "{tmp}/cm.png"],
     "--confusion-png do not apply to a tumour-type model"),
])
def test_evaluate_a_tumour_type_model_refuses(runner, tmp_path, tumour_type_training, args,
                                              message):
    result = runner.invoke(args=["model", "evaluate", "--model", TUMOUR_TYPE_MODEL,
                                 *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not tumour_type_training


def test_other_models_refuse_tumour_type_evaluate_options(runner, segmentation_training):
    result = runner.invoke(args=["model", "evaluate", "--model", SEGMENTATION_MODEL,
                                 "--data-seed", "5", "--test-data", "t.npz", "--card-key", "k"])
    assert result.exit_code == 2, result.output
    assert "--test-data, --card-key do not apply to a segmentation model" in result.output


@pytest.mark.parametrize("args, message", [
    (["evaluate", "--model", TUMOUR_TYPE_MODEL, "--test-data", "{tmp}/none.npz",
      "--ood-data", "{tmp}/ood.npz"], "none.npz"),
    (["evaluate", "--model", TUMOUR_TYPE_MODEL, "--test-data", "{tmp}/id.npz",
      "--ood-data", "{tmp}/id.npz"], "id.npz is not an OOD dataset (its kind is 'id')"),
    (["evaluate", "--model", TUMOUR_TYPE_MODEL, "--test-data", "{tmp}/text.npz",
      "--ood-data", "{tmp}/id.npz"], "text.npz is not a tumour-type dataset file"),
    (["train", "--task", "tumour-type", "--train-data", "{tmp}/ood.npz", "--val-data",
      "{tmp}/id.npz", "--out", "{tmp}/m"], "ood.npz is not an in-distribution dataset"),
])
def test_tumour_type_bad_files_get_one_clear_line(runner, tmp_path, args, message):
    import numpy as np

    for kind in ("id", "ood"):
        np.savez(tmp_path / f"{kind}.npz", x=np.zeros((1, 2, 2, 2, 4), np.float16),
                 y=np.zeros(1, np.int16), names=np.array(["glioma"]), detail=np.array([""]),
                 seed=np.int64(1), voxel_mm=np.float64(2), kind=np.array(kind))
    (tmp_path / "text.npz").write_text("not numpy")
    result = runner.invoke(args=["model", *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
