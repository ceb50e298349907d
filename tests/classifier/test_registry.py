"""The model registry: tasks map to model folders; each configured model is loaded once."""

from __future__ import annotations

import shutil

import pytest

from app.pipeline.models.card import CardError, ModelCard
from app.pipeline.models.registry import ModelSet, discover_models, load_models
from app.pipeline.models.subtype import Classifier


def test_load_models_loads_each_mapping_once_per_process(tiny_model_dir):
    models = load_models({"subtype": tiny_model_dir})
    assert isinstance(models, ModelSet) and "subtype" in models and list(models) == ["subtype"]
    assert isinstance(models["subtype"], Classifier)
    assert load_models({"subtype": str(tiny_model_dir)}) is models
    assert models.summary_blocks() == {"subtype": models["subtype"].card.summary_block()}
    with pytest.raises(KeyError, match="no model for task 'segmentation'"):
        models["segmentation"]


def test_a_folder_serving_another_task_or_an_unknown_task_is_refused(tiny_model_dir, tmp_path):
    with pytest.raises(CardError, match="no loader for task 'sequence'"):
        load_models({"sequence": tiny_model_dir})
    other = tmp_path / "seg"
    shutil.copytree(tiny_model_dir, other)
    card = ModelCard.load(other)
    card.task = "segmentation"
    card.save(other)
    with pytest.raises(CardError, match="is a 'segmentation' model, configured for task 'subtype'"):
        load_models({"subtype": other})


def test_discovery_maps_tasks_to_folders_and_refuses_two_for_one_task(tiny_model_dir, tmp_path):
    shutil.copytree(tiny_model_dir, tmp_path / "one")
    (tmp_path / "empty").mkdir()
    assert discover_models(tmp_path) == {"subtype": tmp_path / "one"}
    shutil.copytree(tiny_model_dir, tmp_path / "two")
    with pytest.raises(CardError, match="both serve task 'subtype'"):
        discover_models(tmp_path)
