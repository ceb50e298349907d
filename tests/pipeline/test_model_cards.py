"""The shipped model cards: one base card, the same summary blocks and lossless round trips.

``SUMMARY_BLOCKS`` was captured from the four shipped cards before the cards shared a base class;
the result page, the API schema and stored case summaries read these keys, so they must not drift.
"""

import json
from pathlib import Path

import pytest

from app.pipeline.lesion.segmentation_card import SegmentationCard
from app.pipeline.models.card import BaseCard, CardError, ModelCard, sha256_file
from app.pipeline.models.registry import CARD_READERS, MODELS_ROOT, read_card
from app.pipeline.models.sequence import SequenceCard
from app.pipeline.models.tumour_type import TumourTypeCard

SUMMARY_BLOCKS: dict[str, dict[str, object]] = {
    "glioma-demo": {
        "name": "glioma-demo",
        "version": "1.1",
        "weights_sha256": (
            "0f4709704d5e5f3a13b431bcf3ad8f6caea4c23cf9b85818b25e48c7224c9f47"
        ),
        "demo": True,
        "training_data": (
            "292 synthetic glioma phantoms (app.pipeline.phantoms, seed 1; 98 A, 97 O, 97 G) "
            "on the MNI152 template at BraTS geometry; 85% training / 15% validation by case."
            " No patient data"
        ),
    },
    "segmentation-demo": {
        "name": "segmentation-demo",
        "task": "segmentation",
        "version": "1.1",
        "weights_sha256": (
            "d361acf8cfbdc2d7b173b0365b9155a03e01e6bbb5d6d4955c0035460c882dc8"
        ),
        "demo": True,
        "training_data": (
            "60 synthetic phantoms for training (synthetic phantoms, seed 5101) and 12 for "
            "model selection (seed 5202; 48 of that seed choose the enhancing-volume rule), "
            "classes A/O/G balanced, BraTS geometry on the MNI152 template. No patient data."
        ),
    },
    "sequence-demo": {
        "name": "sequence-demo",
        "version": "1.0",
        "weights_sha256": (
            "3db026b700e55a093c1de7a04240fa1aa08dc87a18148550b214a546a00422b0"
        ),
        "demo": True,
        "training_data": (
            "Synthetic phantoms only (app.pipeline.phantoms.generate_case, MNI152 anatomy; "
            "classes A, O, G in turn). Training: seed 1401, 240 cases (30% at 1 mm BraTS "
            "size, the rest at 2 mm), normal T1ce enhancement 0.4-1.3x, 3 augmented samples "
            "per volume. Validation (early stopping, thresholds): seed 1402, 24 cases at 1 mm"
            " + 8 class-A cases without enhancement (seed 11402). Test: seed 1403 (never used"
            " before the final evaluation). No patient data."
        ),
    },
    "tumour-type-demo": {
        "name": "tumour-type-demo",
        "version": "1.0",
        "weights_sha256": (
            "4ea919aa193da8fdd414814391f06b03bcf70a81d172fd5c91f4fe2b58114a0e"
        ),
        "demo": True,
        "training_data": (
            "600 synthetic phantoms (app.pipeline.synthetic.tumour_types, seed 1501, 2 mm "
            "grid; per type {'glioma': 120, 'meningioma': 120, 'pituitary': 120, "
            "'metastasis': 120, 'no_tumour': 120}; gliomas = the A/O/G phantoms) on the "
            "MNI152 template; validation seeds 1502. No patient data."
        ),
    },
}


@pytest.mark.parametrize("folder", sorted(SUMMARY_BLOCKS))
def test_shipped_summary_blocks_are_unchanged(folder):
    block = read_card(MODELS_ROOT / folder).summary_block()
    assert block == SUMMARY_BLOCKS[folder]
    assert list(block) == list(SUMMARY_BLOCKS[folder])


@pytest.mark.parametrize("folder", sorted(SUMMARY_BLOCKS))
def test_shipped_cards_round_trip(folder, tmp_path):
    shipped = json.loads((MODELS_ROOT / folder / "card.json").read_text(encoding="utf-8"))
    card = read_card(MODELS_ROOT / folder)
    assert card.to_dict() == shipped
    path = card.save(tmp_path)
    assert path == Path(tmp_path) / "card.json"
    assert json.loads(path.read_text(encoding="utf-8")) == shipped
    again = read_card(tmp_path)
    assert type(again) is type(card)
    assert again == card
    assert again.to_dict() == shipped


def test_every_task_has_a_shipped_card():
    assert sorted(read_card(MODELS_ROOT / f).task for f in SUMMARY_BLOCKS) == sorted(
        ["segmentation", "sequence", "subtype", "tumour-type"]
    )


CARD_CLASSES = {
    "subtype": ModelCard,
    "sequence": SequenceCard,
    "tumour-type": TumourTypeCard,
    "segmentation": SegmentationCard,
}


@pytest.mark.parametrize("task", sorted(CARD_CLASSES))
def test_every_card_extends_the_base_card_and_refuses_unknown_keys(task):
    cls = CARD_CLASSES[task]
    assert issubclass(cls, BaseCard) and task in CARD_READERS
    data = cls(task=task, name="x").to_dict()
    assert cls.from_dict(data).to_dict() == data
    with pytest.raises(CardError, match=r"card keys: \['colour', 'flavour'\]"):
        cls.from_dict({**data, "colour": "red", "flavour": "plain"})
    with pytest.raises(CardError, match="name"):
        cls.from_dict({k: v for k, v in data.items() if k != "name"})


@pytest.mark.parametrize("task", sorted(CARD_CLASSES))
def test_weights_are_checked_against_the_card(task, tmp_path):
    card = CARD_CLASSES[task](task=task, name="x")
    with pytest.raises(CardError, match="missing"):
        card.verify_weights(tmp_path)
    card.weights_path(tmp_path).write_bytes(b"weights")
    card.weights_sha256 = sha256_file(card.weights_path(tmp_path))
    card.verify_weights(tmp_path)
    card.weights_path(tmp_path).write_bytes(b"other weights")
    with pytest.raises(CardError, match="sha256"):
        card.verify_weights(tmp_path)
