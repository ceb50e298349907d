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
