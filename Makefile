# Egret: `make up` runs the appliance on this box; `make test` runs every test. Both set up a fresh Debian 12 box.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: up test setup unit bench clean image

setup:
	@bash scripts/setup-debian.sh

up: setup
	$(VENV)/bin/egret up

test: setup
	@bash scripts/test.sh $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# the appliance image (Debian path): artifacts/image/egret-$(ARCH).raw (+ .sha256, .update.tar, .packages.txt).
# ARCH=arm64 builds the aarch64 image under qemu-user (~20 min; needs qemu-user-static binfmt-support).
ARCH ?= amd64
image: setup
	$(PY) images/build.py --arch $(ARCH)

clean:
	rm -rf .egret build *.egg-info
