# tinyrobust: make setup | lint | format | test | models | flash | bench | report | reproduce
PYTHON ?= python3
MODEL ?= cifar10-resnet8
BOARD ?= qemu-an386
APT_PACKAGES := g++ gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-dev \
	qemu-system-arm libgemmlowp-dev libflatbuffers-dev chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Tests read the real data and reference models beside the checkout when they are there.
SHARED ?= $(abspath ../shared)
export TINYROBUST_DATA_DIR ?= $(if $(wildcard $(SHARED)/data),$(SHARED)/data,)
export TINYROBUST_MODEL_MIRROR ?= $(if $(wildcard $(SHARED)/models),$(SHARED)/models,)

.PHONY: setup apt pip lint format test test-all models flash bench report reproduce clean

setup: apt pip

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

pip: .setup-stamp

# The dependencies in pyproject.toml ([project] and the dev extra), not the checkout itself:
# commands run from the checkout (python -m host.<command>), so no other checkout is affected.
.setup-stamp: pyproject.toml
	$(PYTHON) -m pip install -q $$($(PYTHON) -c 'import tomllib; \
		project = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
		print(*project["dependencies"], *project["optional-dependencies"]["dev"])')
	@touch $@

lint: pip
	$(PYTHON) -m ruff check host tests
	$(PYTHON) -m ruff format --check host tests
	$(PYTHON) -m mypy
	@files=$$(find firmware -name '*.c' -o -name '*.cc' -o -name '*.h' 2>/dev/null | grep -v '/build/'); \
	if [ -n "$$files" ]; then clang-format --dry-run --Werror $$files; fi

format: pip
	$(PYTHON) -m ruff format host tests
	$(PYTHON) -m ruff check --fix host tests
	@files=$$(find firmware -name '*.c' -o -name '*.cc' -o -name '*.h' | grep -v '/build/'); \
	if [ -n "$$files" ]; then clang-format -i $$files; fi

test: setup lint
	$(PYTHON) -m pytest

test-all: setup lint
	$(PYTHON) -m pytest -m ''

# The own models, then each fine-tuned with each train-based defense (models/<model>-<defense>/).
TRAIN_DEFENSES = adv-train ensemble-adv-train distillation sinkhorn-adv-train
models: setup
	$(PYTHON) -m host.train --model cifar10-resnet8
	$(PYTHON) -m host.train --model coffee-cnn
	for defense in $(TRAIN_DEFENSES); do \
	  $(PYTHON) -m host.train --model cifar10-resnet8 --defense $$defense && \
	  $(PYTHON) -m host.train --model coffee-cnn --defense $$defense || exit 1; \
	done

flash: setup
	$(PYTHON) -m host.flash --model $(MODEL) --board $(BOARD) $(if $(DEFENSE),--defense $(DEFENSE))

bench: setup
	$(PYTHON) -m host.bench

# The HTML report of the newest run folder under runs/ (or RUN=dir); prints its path.
report: pip
	$(PYTHON) -m host.report $(RUN)

# The seed paper's whole attack grid (campaigns/paper.toml) into a new run folder; prints how
# long it took. RESUME=runs/<folder> continues an interrupted run.
reproduce: setup
	@start=$$(date +%s); \
	$(PYTHON) -m host.evaluate --campaign campaigns/paper.toml $(if $(RESUME),--resume $(RESUME),) \
	&& echo "make reproduce took $$(( ($$(date +%s) - start) / 60 )) min $$(( ($$(date +%s) - start) % 60 )) s"

clean:
	rm -rf build .setup-stamp
