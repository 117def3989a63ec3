"""Data access for RedGrid: models, migrations, queries and the demo data generator."""
