"""Classical descriptors and baselines."""
