import csv

import pytest

from app.commands.pipeline import PIPELINE_COMMANDS


def test_flask_phantoms_writes_a_cpm_radpath_folder(runner, tmp_path):
    out = tmp_path / "phantoms"
    result = runner.invoke(args=["phantoms", "--out", str(out), "--n", "2", "--seed", "3",
                                 "--voxel-mm", "2"])
    assert result.exit_code == 0, result.output
    with open(out / "labels.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    for row in rows:
        for seq in ("flair", "t1", "t1ce", "t2", "seg"):
            assert (out / f"{row['CPM_RadPath_2019_ID']}_{seq}.nii.gz").is_file()


@pytest.mark.parametrize("name", sorted(PIPELINE_COMMANDS))
def test_every_pipeline_command_has_help(runner, name):
    result = runner.invoke(args=[name, "--help"])
    assert result.exit_code == 0, result.output
    assert "usage:" in result.output


def test_bad_arguments_exit_non_zero(runner):
    result = runner.invoke(args=["phantoms", "--n", "2"])  # --out is required
    assert result.exit_code != 0


@pytest.mark.parametrize("name, args, message", [
    ("evaluate", ["--model", "{tmp}/none", "--data", "{tmp}", "--labels", "{tmp}/l.csv"],
     "no model card at"),
    ("train", ["--data", "{tmp}/none", "--labels", "{tmp}/l.csv", "--out", "{tmp}/m"], "none"),
])
def test_bad_paths_get_one_clear_line(runner, tmp_path, name, args, message):
    result = runner.invoke(args=[name, *(a.format(tmp=tmp_path) for a in args)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and message in result.output
    assert "Traceback" not in result.output
