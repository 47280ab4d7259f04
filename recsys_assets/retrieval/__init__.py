"""The retrieval model: a two-tower model trained on the retrieval negative pools (logQ
corrected sampled softmax), evaluated over the full eligible catalog, NumPy only."""
