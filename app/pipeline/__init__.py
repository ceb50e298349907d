"""Plain-Python imaging and ML pipeline of GliomaLens (no Flask imports; import submodules directly)."""
