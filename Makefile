# readtwice — every target installs into .venv on first use (stamp keyed on pyproject.toml).
#
#   make test      run the test suite (hypothesis profile `ci`, 2 workers)
#   make figures   regenerate every figure in figures/ (quick profile on CPU)
#   make notebooks execute the notebooks headless
#   make lint      ruff check, ruff format --check and mypy (what mypy checks: [tool.mypy] in pyproject.toml)
#   make bench     GPU benchmarks (needs CUDA), CSV into figures/data/
#   make clean     remove the venv and caches
#
# On a machine without an NVIDIA GPU the install pins the CPU build of torch (TORCH_CPU) so no
# multi-GB CUDA wheel is pulled, and triton (TRITON_CPU) so the Triton kernels run under the
# interpreter in the tests. On a machine with an NVIDIA GPU the venv sees the system's packages
# (a preinstalled CUDA torch and triton are kept); if there is none, pip installs PyPI's default
# CUDA build.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= quick
WORKERS ?= 2
EXTRAS ?= gpu,notebooks,dist,dev
TORCH_CPU ?= torch==2.13.0
TRITON_CPU ?= triton==3.6.0
NUMPY_CPU ?= numpy<2.4
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1 || echo 0)

.PHONY: install test figures notebooks lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
ifeq ($(HAS_GPU),1)
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	$(PY) -c "import torch; assert torch.cuda.is_available(), 'an NVIDIA GPU is present but torch sees no CUDA'; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"
else
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_CPU)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]" "$(TORCH_CPU)" "$(TRITON_CPU)" "$(NUMPY_CPU)"
	$(PY) -c "import torch; assert torch.__version__.endswith('+cpu'), torch.__version__; print('torch', torch.__version__)"
endif
	touch $(STAMP)

test: $(STAMP)
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -n $(WORKERS) -q

figures: $(STAMP)
	$(PY) -m synthetic.figures --profile $(PROFILE)

notebooks: $(STAMP)
	$(PY) -m pytest -q --nbmake notebooks

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) bench/prefill.py --out figures/data

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache .mypy_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
