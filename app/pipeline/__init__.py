"""Plain-Python imaging and ML pipeline of GliomaLens (no Flask; import the submodules directly)."""
