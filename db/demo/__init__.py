"""The deterministic synthetic Linshu demo dataset."""
