"""Training and validating models: labelled data sets, training, evaluation, metrics, import."""
