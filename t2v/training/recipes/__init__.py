"""One recipe per model family (imported lazily through t2v.training.registry)."""
