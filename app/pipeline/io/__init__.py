"""Reading cases: NIfTI files, sequence naming conventions, the loaded case."""
