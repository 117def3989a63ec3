"""The deterministic synthetic Linshu demo dataset."""

# The random seed of the demo data (`redgrid seed --demo --seed N` draws another county).
DEFAULT_SEED = 20231
