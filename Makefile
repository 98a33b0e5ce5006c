# alosim: set-up and everyday commands. Every target installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lab clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## run the default scenario
	$(BIN)/alosim run scenarios/ack-lost.yaml

test: $(STAMP)  ## run the whole test suite (unit, validation, notebooks) on every core
	$(BIN)/python -m pytest -n auto --dist worksteal

# BASELINE: another checkout to compare with, measured in the same invocation, e.g.
#   git worktree add ../alosim-main main && make bench BASELINE=../alosim-main
BASELINE ?=
BENCH_ARGS := $(if $(BASELINE),--baseline $(BASELINE))

bench: $(STAMP)  ## speed as ratios: single hop vs bare and idiomatic SimPy, two hops, log, start-up, sweeps per executor
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

bench-instructions: $(STAMP)  ## the simulations' ratios by instruction count (callgrind): the same on a busy machine
	$(BIN)/python benchmarks/bench.py --instructions --messages 20000 $(BENCH_ARGS)

bench-memory: $(STAMP)  ## peak memory at 1 M and 10 M messages: single hop, queue pipeline, log (minutes)
	$(BIN)/python benchmarks/memory.py $(BENCH_ARGS)

lab: $(STAMP)  ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) build *.egg-info
