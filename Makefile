# The two commands of the README: `make run` (the main job) and `make test`
# (every test). Both set up what they need first (scripts/bootstrap.sh).
PYTHON := .venv/bin/python

.PHONY: run test bench setup

run:
	@scripts/bootstrap.sh dev
	PYBRIDGE_PYTHON=$(CURDIR)/$(PYTHON) elixir examples/hello_port.exs

test:
	@scripts/bootstrap.sh dev bench
	$(PYTHON) -m pytest

# Not one of the two commands: the full benchmark suite (about 6 minutes).
bench:
	@scripts/bootstrap.sh dev bench
	$(PYTHON) -m benchmarks.run

setup:
	@scripts/bootstrap.sh dev
