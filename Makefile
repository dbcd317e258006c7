# AniCurate: `make run` runs the main job end to end on the bundled default; `make test` runs the tests.
# Both install what they need into .venv first (`make setup`), so a fresh machine needs nothing else.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.anicurate-installed
# torch/torchvision pinned to the builds this machine serves from disk; elsewhere pip fetches the same versions.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
DATA ?= data/default
OUT ?= runs/default
TRAIN_STEPS ?= 60
VIDEOS ?= 4
SEED ?= 0

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# pip on this machine warns about absent local index folders; drop that noise, keep pip's exit code.
QUIET_PIP := sed -u '/is ignored: it is neither a file nor a directory/d'

.PHONY: setup run test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH_PINS) 2>&1 | $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet -e '.[test]' --config-settings editable_mode=compat 2>&1 | $(QUIET_PIP)
	$(BIN)/python -c "import torch, av, cv2, pyarrow, duckdb, typer, yaml, jobs.cli" 
	@touch $(STAMP)

run: setup
	$(BIN)/anicurate synth $(DATA) --videos $(VIDEOS) --seed $(SEED)
	$(BIN)/anicurate footage summary $(DATA)
	$(BIN)/anicurate curate $(DATA) --out $(OUT)
	$(BIN)/anicurate audit $(OUT) --report $(OUT)/report.html
	$(BIN)/anicurate train --shards '$(OUT)/shards/*.tar' --out $(OUT)/model --config animatrix/configs/tiny.yaml \
		--steps $(TRAIN_STEPS) --resume
	$(BIN)/anicurate generate --checkpoint $(OUT)/model --tags camera.movement=pan_left motion.timing=twos \
		--text "a character runs across a field" --steps 10 --out $(OUT)/generated.mp4
	@echo "shards: $(OUT)/shards/  manifest: $(OUT)/manifest/  report: $(OUT)/report.html  model: $(OUT)/model/" \
		" generated: $(OUT)/generated.mp4 (+ .gif)"

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(DATA) $(OUT) .pytest_cache .ruff_cache
