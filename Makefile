# alosim: set-up and everyday commands. Every target installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test conformance docs notebooks bench lab clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## run the default scenario
	$(BIN)/alosim run scenarios/ack-lost.yaml

# The conformance suite spends most of its time waiting on real brokers' timers (about 20 s of
# processor time in 80 s), so it runs beside the simulation tests instead of after them. Each of
# its cases measures the timer overshoot it gets and allows for it, and calls a run on a machine
# too busy to hold its timers inconclusive (tried 3 times, then skipped and listed as skipped).
# Its report is printed after the simulation tests' own; make fails if either fails.

test: $(STAMP)  ## the whole test suite (the site in a browser too) on every core, the conformance suite (real brokers) beside it
	tests/conformance/install-brokers.sh
	bash scripts/ensure-chromium.sh
	@log=$$(mktemp); $(BIN)/python -m pytest -m conformance tests/conformance >$$log 2>&1 & conformance=$$!; \
	trap 'kill $$conformance 2>/dev/null; exit 130' INT TERM; \
	$(BIN)/python -m pytest -n auto --dist worksteal -m "not conformance"; main=$$?; \
	wait $$conformance; status=$$?; \
	echo "== conformance suite (tests/conformance, run beside the tests above)"; cat $$log; \
	rm -f $$log; test $$main -eq 0 && test $$status -eq 0

conformance: $(STAMP)  ## only the conformance suite: alosim against NATS JetStream and Redis on loopback
	tests/conformance/install-brokers.sh
	$(BIN)/python -m pytest -m conformance tests/conformance

docs: $(STAMP)  ## build the documentation site and serve it on http://127.0.0.1:8000
	$(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:8000

notebooks: $(STAMP)  ## execute every notebook and write its outputs in place (they are committed)
	$(BIN)/python -m docsgen.notebooks

# BASELINE: another checkout to compare with, measured in the same invocation, e.g.
#   git worktree add ../alosim-main main && make bench BASELINE=../alosim-main
BASELINE ?=
BENCH_ARGS := $(if $(BASELINE),--baseline $(BASELINE))

bench: $(STAMP)  ## ratios: single hop vs bare and idiomatic SimPy, two hops, log, peak memory, start-up, sweeps and explore per executor
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

bench-instructions: $(STAMP)  ## the simulations' ratios by instruction count (callgrind): the same on a busy machine
	$(BIN)/python benchmarks/bench.py --instructions --messages 20000 $(BENCH_ARGS)

# FULL=1: at 1 M and 10 M messages (about an hour) instead of 100 k and 1 M (minutes).
bench-memory: $(STAMP)  ## peak memory against messages: single hop, queue pipelines, logs (minutes; FULL=1: 10 M)
	$(BIN)/python benchmarks/memory.py $(if $(FULL),--full) $(BENCH_ARGS)

# SCENARIOS="nats-jetstream sqs-fifo": only these; MESSAGES="20000 200000": other sizes.
bench-memory-shipped: $(STAMP)  ## peak memory of every shipped pipeline, log and topology scenario at 100 k and 1 M messages (about 20 minutes; one run peaks near 2 GiB)
	$(BIN)/python benchmarks/memory.py --shipped $(if $(MESSAGES),--messages $(MESSAGES)) $(if $(SCENARIOS),--scenarios $(SCENARIOS))

lab: $(STAMP)  ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) build *.egg-info
