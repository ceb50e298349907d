"""The per-case analysis: an ordered list of stages over one context, and its batch use."""
