"""Models and their cards: card validation, model inputs, each task's model, the TF runtime."""
