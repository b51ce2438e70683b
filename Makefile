# Two entry points for a fresh machine with Python 3.11:  make run  |  make test
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch and torchvision must be installed as a matching pair; override for other platforms,
# e.g. TORCH_SPEC="torch torchvision --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: setup run test clean

$(BIN)/.installed: pyproject.toml Makefile
	@test -n "$(PYTHON)" || { echo "error: no python3.11 or python3 on PATH: install Python 3.11 (or set PYTHON=...)" >&2; exit 1; }
	PYTHON="$(PYTHON)" bash packaging/system-deps.sh
	@# a venv whose Python was removed or upgraded cannot be made again over its links: start it afresh
	@$(BIN)/python -c "" 2>/dev/null || rm -rf $(VENV)
	"$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install $(TORCH_SPEC)
	$(BIN)/python -m pip install -e ".[test,package]"
	@# Export the models to ONNX now, so the app's first start on a CPU needs no PyTorch (an optimisation only)
	-$(BIN)/python -m detector cache --warm > /dev/null
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/python -m desktop

# Two workers, a test file each at a time: most tests wait on video clocks and threads, so even on two
# cores this takes about two thirds of the time of one process (TEST_WORKERS=0: all in one process)
TEST_WORKERS ?= 2

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) build dist *.egg-info
