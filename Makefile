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
	$(PY) -m pytest --postgres $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .egret build *.egg-info
