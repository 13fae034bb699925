# The two commands of the README: `make run` (the main job) and `make test`
# (every test). Both set up what they need first (scripts/bootstrap.sh), with
# the same extras, so the one install serves both.
PYTHON := .venv/bin/python
EXTRAS := dev bench dspy langchain libraries

.PHONY: run test bench setup

# DSPy from Elixir: generate the DSPex modules into the example app and run its demo.
run: setup
	$(PYTHON) -m elixir_gen specs/dspy.yaml -o examples/dspy_demo/lib/generated \
		--tests --tests-dir examples/dspy_demo/test/generated --no-lock >/dev/null
	cd examples/dspy_demo && PYBRIDGE_PYTHON=$(CURDIR)/$(PYTHON) mix run demo.exs

test: setup
	$(PYTHON) -m pytest

# Not one of the two commands: the full benchmark suite (2 runs of 8 rounds, 20+ minutes).
# The per-call targets of issue 13 alone, in a few minutes: $(PYTHON) -m benchmarks.run --only percall --rounds 3
# (add --cpus 0 to pin the BEAM and its workers to one CPU: stable one-call latencies, see benchmarks/FINDINGS.md)
bench: setup
	$(PYTHON) -m benchmarks.run

setup:
	@scripts/bootstrap.sh $(EXTRAS)
