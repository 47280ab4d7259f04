"""The CTR ranker: features, position-bias estimation, training, evaluation, model files."""
