"""`flask model train|evaluate|calibrate|import|predict` and `flask phantoms`, via the runner."""

import csv

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


def test_the_model_group_has_the_five_commands():
    assert MODEL_COMMANDS == ["calibrate", "evaluate", "import", "predict", "train"]


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
    (["--task", "tumour"], "'tumour' is not one of 'subtype', 'sequence', 'segmentation'"),
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
