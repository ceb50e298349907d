"""The model registry: tasks map to model folders; each configured model is loaded once."""

from __future__ import annotations

import shutil

import pytest

from app.pipeline.models.card import CardError
from app.pipeline.models.registry import (
    MODELS_ROOT,
    ModelSet,
    discover_models,
    load_models,
    read_card,
)
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
    with pytest.raises(CardError, match="no loader for task 'nonsense'"):
        load_models({"nonsense": tiny_model_dir})
    sequence_model = MODELS_ROOT / "sequence-demo"
    with pytest.raises(CardError, match="is a 'sequence' model, configured for task 'subtype'"):
        load_models({"subtype": sequence_model})


def test_each_task_s_card_is_read_by_its_own_card_class(tiny_model_dir, tmp_path):
    assert type(read_card(tiny_model_dir)).__name__ == "ModelCard"
    assert type(read_card(MODELS_ROOT / "sequence-demo")).__name__ == "SequenceCard"
    other = tmp_path / "odd"
    shutil.copytree(tiny_model_dir, other)
    (other / "card.json").write_text('{"task": "weather"}')
    with pytest.raises(CardError, match="unknown task 'weather'"):
        read_card(other)


def test_discovery_maps_tasks_to_folders_and_refuses_two_for_one_task(tiny_model_dir, tmp_path):
    shutil.copytree(tiny_model_dir, tmp_path / "one")
    (tmp_path / "empty").mkdir()
    assert discover_models(tmp_path) == {"subtype": tmp_path / "one"}
    shutil.copytree(tiny_model_dir, tmp_path / "two")
    with pytest.raises(CardError, match="both serve task 'subtype'"):
        discover_models(tmp_path)
