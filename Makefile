# Two commands matter: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint venv clean bench docs soak

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check syncd connectors tests bench
	$(BIN)/ruff format --check syncd connectors tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check syncd connectors tests bench
	$(BIN)/ruff format --check syncd connectors tests bench

# Speed and request-budget figures beside their targets (not a test); a full run also
# rewrites the results in bench/README.md. BENCH_ARGS=--quick for a smoke run.
bench: $(STAMP)
	$(BIN)/python -m bench.run --readme bench/README.md $(BENCH_ARGS)

# The model-based sync test at >= 5,000 examples per machine (`make test` runs 200), and
# the end-to-end convergence cases.
SOAK_EXAMPLES ?= 5000
# Then the README's Guarantees figures are rewritten from that run (refused if it failed).
soak: $(STAMP)
	SYNCD_MACHINE_EXAMPLES=$(SOAK_EXAMPLES) $(BIN)/python -m pytest -q \
		tests/reliability/test_sync_machine.py tests/reliability/test_convergence_cases.py
	$(BIN)/python -m bench.guarantees_docs --from build/reliability/guarantees.json

demo: $(STAMP)
	$(BIN)/syncd demo

# docs/cli.md and docs/configuration.md are generated from the parser and the config models.
docs: $(STAMP)
	$(BIN)/python -m syncd.cli.reference

clean:
	rm -rf $(VENV) build *.egg-info
