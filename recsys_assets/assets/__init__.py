"""Software-defined assets, one module per layer: sources -> clean -> snapshots -> labels -> negatives -> metrics -> model."""
