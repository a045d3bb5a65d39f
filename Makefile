# dynalign -- `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
DEMO_ARGS ?=
OUT ?= out

.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: the CPU build on these machines (never the CUDA wheels)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,nir,umap,ray,board]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install everything (quick when done already)

test: setup  ## run the test suite (RTL vs golden included); PYTEST_ARGS=--runslow for heavy cases
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: setup  ## ruff over the sources, and the layer contract (import-linter, pyproject.toml)
	$(VENV)/bin/ruff check hw sw sim tests bench constraints
	$(VENV)/bin/lint-imports

demo: setup  ## the main job: encode digits, train both modes, verify in RTL sim, build the iCEBreaker bitstream
	$(PY) -m dynalign.sw.demo --out $(OUT)/demo $(DEMO_ARGS)

bench: setup  ## golden encoder throughput (JSON)
	$(PY) bench/bench_encoder.py

clean:  ## remove build outputs (keeps .venv)
	rm -rf build sim_build $(OUT) .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean  ## also remove .venv
	rm -rf $(VENV)

.PHONY: help setup test lint demo bench clean distclean

# --- LIF network (issue 4) ---
bench-lif: setup  ## LIF: golden throughput, RTL cycles vs bound at 5 % / 30 % spikes (JSON)
	$(PY) bench/bench_lif_ref.py
	$(PY) bench/bench_lif_cycles.py

synth-lif: setup  ## LIF: resources and Fmax on iCEBreaker and ULX3S-85F (YoWASP, JSON)
	$(PY) bench/bench_lif_synth.py

verify-network: setup  ## LIF: Verilated network vs golden, 200 random samples (JSON)
	$(VENV)/bin/dynalign verify network --random --layers 21,64,32,10 --samples 200 --seed 1 --json

.PHONY: bench-lif synth-lif verify-network

# --- trajectory encoder RTL (issue 3) ---
verify-encoder: setup  ## encoder: Verilated encoder vs golden, 500 samples over 20 configs (JSON)
	$(VENV)/bin/dynalign verify encoder --samples 500 --seed 1 --json

synth-encoder: setup  ## encoder: resources and Fmax on iCEBreaker and ULX3S-85F (YoWASP, JSON)
	$(PY) bench/synth_encoder.py

.PHONY: verify-encoder synth-encoder

# -- training and quantisation (issue 5) --------------------------------------------------
train: setup  ## train + export + evaluate digits in both modes (runs under $(OUT)/runs)
	$(VENV)/bin/dynalign train --dataset digits --mode expansive --out $(OUT)/runs/digits_expansive
	$(VENV)/bin/dynalign train --dataset digits --mode dissipative --spike-reg 1 --out $(OUT)/runs/digits_dissipative

bench-train: setup  ## training targets: accuracy, float/ANN gap, spikes per mode, time (JSON)
	$(PY) bench/bench_train.py

.PHONY: train bench-train

SWEEP_DIGITS := $(OUT)/sweep-digits
SWEEP_MNIST := $(OUT)/sweep-mnist
SWEEP_SAT := $(OUT)/sweep-digits-saturating
SWEEP_SYSTEMS := $(OUT)/sweep-digits-systems
SWEEP_DIGITS_CMD := dynalign sweep --dataset digits --seeds 3 --out $(SWEEP_DIGITS)
SWEEP_SAT_CMD := dynalign sweep --dataset digits --seeds 3 --in-shift-percentile 50 --no-lorenz --baselines= --out $(SWEEP_SAT)
SWEEP_SYSTEMS_CMD := dynalign sweep --dataset digits --deltas=-1.5 --seeds 3 --systems all --baselines= --out $(SWEEP_SYSTEMS)
SWEEP_MNIST_CMD := dynalign sweep --dataset mnist --deltas=-1.5,-1,-0.6,0,0.6,2,2.5,4,7,10 --seeds 3 --baselines direct,latency --no-lorenz --epochs 20 --out $(SWEEP_MNIST)
SWEEP_STEP := $(OUT)/sweep-digits-step
SWEEP_STEP_CMD := dynalign sweep --dataset digits --seeds 3 --input-scale step --no-lorenz --baselines= --workers 1 --out $(SWEEP_STEP)
SWEEP_BIG := $(OUT)/sweep-digits-paper-size
SWEEP_BIG_CMD := dynalign sweep --dataset digits --layers 500,500,500 --deltas=-1.5,-1,-0.6,0,0.6,2,2.5,4,7,10 --seeds 3 --no-lorenz --baselines= --out $(SWEEP_BIG)
SWEEP_BIG_STEP := $(OUT)/sweep-digits-paper-size-step
SWEEP_BIG_STEP_CMD := dynalign sweep --dataset digits --layers 500,500,500 --deltas=-1.5,-1,-0.6,2 --seeds 3 --no-lorenz --baselines= --input-scale step --out $(SWEEP_BIG_STEP)
SWEEP_MNIST_STEP := $(OUT)/sweep-mnist-step
SWEEP_MNIST_STEP_CMD := dynalign sweep --dataset mnist --deltas=-1.5,2 --seeds 3 --baselines= --no-lorenz --epochs 20 --input-scale step --out $(SWEEP_MNIST_STEP)
SWEEP_MNIST_SYSTEMS := $(OUT)/sweep-mnist-systems
SWEEP_MNIST_SYSTEMS_CMD := dynalign sweep --dataset mnist --deltas=-1.5 --seeds 1 --systems all --baselines=direct --tmax 8 --steps 5 --input-scale step --epochs 20 --out $(SWEEP_MNIST_SYSTEMS)
SWEEP_PAPER := $(OUT)/sweep-paper-digits
SWEEP_PAPER_CMD := dynalign sweep --protocol paper --dataset digits --deltas=-1.5,-1,-0.6,0,0.6,2,2.5,4,7,10 --seeds 3 --out $(SWEEP_PAPER)
RESULTS_SECTIONS := \
  --section digits $(SWEEP_DIGITS) "$(SWEEP_DIGITS_CMD)" \
  --section "digits, the paper's protocol (float, snnTorch)" $(SWEEP_PAPER) "$(SWEEP_PAPER_CMD)" \
  --section "digits, saturating input scale" $(SWEEP_SAT) "$(SWEEP_SAT_CMD)" \
  --section "digits, per-step input scale" $(SWEEP_STEP) "$(SWEEP_STEP_CMD)" \
  --section "digits, the paper's network (21-500-500-500-10)" $(SWEEP_BIG) "$(SWEEP_BIG_CMD)" \
  --section "digits, the paper's network, per-step input scale" $(SWEEP_BIG_STEP) "$(SWEEP_BIG_STEP_CMD)" \
  --section "digits, every input system (RK4, tmax 8, T 5)" $(SWEEP_SYSTEMS) "$(SWEEP_SYSTEMS_CMD)" \
  --section "MNIST (8,000/2,000 split of t10k)" $(SWEEP_MNIST) "$(SWEEP_MNIST_CMD)" \
  --section "MNIST, per-step input scale" $(SWEEP_MNIST_STEP) "$(SWEEP_MNIST_STEP_CMD)" \
  --section "MNIST, every input system (RK4, tmax 8, T 5, per-step input scale)" $(SWEEP_MNIST_SYSTEMS) "$(SWEEP_MNIST_SYSTEMS_CMD)"
results: setup  ## delta sweeps: digits (11 deltas x 3 seeds + baselines; again with a saturating input scale and with a per-step input scale; the paper's 21-500-500-500-10 with both scales; every input system; the paper's float protocol) and MNIST (and every input system on it) -> docs/results.md
	$(VENV)/bin/$(SWEEP_DIGITS_CMD)
	$(VENV)/bin/$(SWEEP_SAT_CMD)
	$(VENV)/bin/$(SWEEP_STEP_CMD)
	$(VENV)/bin/$(SWEEP_BIG_CMD)
	$(VENV)/bin/$(SWEEP_BIG_STEP_CMD)
	$(VENV)/bin/$(SWEEP_SYSTEMS_CMD)
	$(VENV)/bin/$(SWEEP_PAPER_CMD)
	$(VENV)/bin/$(SWEEP_MNIST_CMD)
	$(VENV)/bin/$(SWEEP_MNIST_STEP_CMD)
	$(VENV)/bin/$(SWEEP_MNIST_SYSTEMS_CMD)
	$(PY) -m dynalign.sw.results --page docs/results.md --verdict-file docs/verdict.md $(RESULTS_SECTIONS)
.PHONY: results

results-page: setup  ## docs/results.md from the sweep folders present; a section whose folder is absent keeps its text
	$(PY) -m dynalign.sw.results --page docs/results.md --verdict-file docs/verdict.md --keep-absent $(RESULTS_SECTIONS)
.PHONY: results-page

# --- accelerator on a board (issue 6) ---
BOARD ?= icebreaker
bitstream: setup  ## accelerator bitstream with YoWASP: make bitstream BOARD=icebreaker|ulx3s [RUN=run-dir]
	$(VENV)/bin/dynalign build --board $(BOARD) $(RUN) --json

verify-system: setup  ## upload RUN (and SWITCH) through the simulated UART into the Verilated top
	$(VENV)/bin/dynalign verify system $(RUN) $(if $(SWITCH),--switch $(SWITCH)) --samples 20 --json

synth-breakdown: setup  ## accelerator: LUTs / FFs / RAMs per block, BOARD=icebreaker|ulx3s [RUN=run-dir] (JSON)
	$(PY) bench/synth_breakdown.py --board $(BOARD) $(RUN)

.PHONY: bitstream verify-system synth-breakdown

# --- checks that can fail (issue 14) ---
MUTATION_ARGS ?= --max-per-file 20
mutation: setup  ## mutation benchmark of the gateware's fast tests (JSON; in place, restored; MUTATION_ARGS=)
	$(PY) bench/mutation.py $(MUTATION_ARGS)

systems-grid: setup  ## every input system over the paper's grid (tmax x T) on the hardware model, each one's best (JSON + table; digits, 1 seed, about 25 min)
	$(PY) bench/systems_grid.py --markdown $(GRID_ARGS)
.PHONY: systems-grid

.PHONY: mutation

# --- formal proofs of the host link (issue 14) ---
formal: setup  ## bounded proofs of the command engine (SymbiYosys), deep ones and planted bugs included
	$(VENV)/bin/pytest tests/test_formal.py --runslow

.PHONY: formal
