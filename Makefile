# RedGrid: `make run` serves the demo, `make test` passes the tests; both set up everything.
.PHONY: setup run test fuzz bench bench-peer bench-scale lint schema clean

setup:
	bash scripts/setup.sh

run: setup
	bash scripts/run.sh

test:
	bash scripts/setup.sh --with-browser
	bash scripts/test.sh

# 10,000 generated GraphQL operations (REDGRID_FUZZ_OPERATIONS), recorded in bench/results/fuzz.md.
fuzz: setup
	bash scripts/fuzz.sh

bench: setup
	bash scripts/bench.sh
	bash scripts/bench_create.sh
	bash scripts/bench_sites.sh
	bash scripts/bench_partitioning.sh
	bash scripts/bench_faults.sh

# RedGrid against PostGraphile v4 on the same database (bench/peer.py).
bench-peer: setup
	bash scripts/bench_peer.sh

# Q1 and Q4 on 100,000, 1,000,000 and 10,000,000 tickets (bench/scale.py; seeded once).
bench-scale: setup
	bash scripts/bench_scale.sh

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy
	node_modules/.bin/eslint web/static web/field

schema: setup
	.venv/bin/redgrid export-schema --out schema.graphql

clean:
	-.venv/bin/redgrid db down
	rm -rf .data .venv node_modules
