# Two commands matter: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check syncd connectors tests
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check syncd connectors tests
	$(BIN)/ruff format --check syncd connectors tests

demo: $(STAMP)
	$(BIN)/syncd demo

clean:
	rm -rf $(VENV) build *.egg-info
