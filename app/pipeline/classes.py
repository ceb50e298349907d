"""The glioma classes of the CPM-RadPath challenge, in model output order."""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("A", "O", "G")
CLASS_NAMES: dict[str, str] = {
    "A": "Astrocytoma, IDH-mutant (lower-grade)",
    "O": "Oligodendroglioma, IDH-mutant, 1p/19q-codeleted",
    "G": "Glioblastoma, IDH-wildtype",
}
GRADE_GROUPS: dict[str, str] = {
    "A": "WHO grade 2–3 (lower-grade glioma)",
    "O": "WHO grade 2–3 (lower-grade glioma)",
    "G": "WHO grade 4",
}

TUMOUR_TYPES: tuple[str, ...] = ("glioma", "meningioma", "pituitary", "metastasis", "no_tumour")
"""The tumour-type classes (the scope stage), in model output order."""
TUMOUR_TYPE_NAMES: dict[str, str] = {
    "glioma": "Glioma",
    "meningioma": "Meningioma",
    "pituitary": "Pituitary macroadenoma",
    "metastasis": "Metastasis",
    "no_tumour": "No tumour",
}
