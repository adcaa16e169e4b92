# SkyPost: `make demo` runs the simulated site, `make test` passes the tests.
# Every target installs what is missing first (Debian packages, venv, npm, catkin build), idempotently.
SHELL := /bin/bash
.SHELLFLAGS := -e -o pipefail -c
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
STAMP := $(ROOT)/.make
WS := $(ROOT)/catkin_ws
ENV := source $(ROOT)/scripts/env.sh
REQUIREMENTS := $(sort $(filter-out requirements/constraints.txt,$(wildcard requirements/*.txt)))
WEB_PKG := $(wildcard web/pyproject.toml)
ROS_SOURCES := $(wildcard msg/*.msg srv/*.srv action/*.action interfaces/*/*.xml interfaces/*/CMakeLists.txt \
  interfaces/*/msg/*.msg interfaces/*/srv/*.srv nodes/*) CMakeLists.txt package.xml setup.py

.PHONY: help deps link build firmware test test-unit test-ros test-e2e demo scenario bench lint clean distclean

help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

deps: $(STAMP)/apt $(STAMP)/venv $(STAMP)/npm ## install Debian packages, the venv and npm packages

build: deps link $(STAMP)/catkin firmware ## build the catkin workspace and the firmware

link: $(STAMP)/apt
	scripts/link-workspace.sh

$(STAMP)/apt: scripts/apt-packages.txt scripts/install-apt.sh
	scripts/install-apt.sh
	mkdir -p $(STAMP) && touch $@

$(STAMP)/venv: $(STAMP)/apt $(REQUIREMENTS) requirements/constraints.txt $(WEB_PKG)
	[ -x $(PY) ] || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	flock $(ROOT)/.make.venv.lock $(PY) -m pip install -q --disable-pip-version-check -c requirements/constraints.txt \
	  $(addprefix -r ,$(REQUIREMENTS)) $(if $(WEB_PKG),-e './web[test]')
	touch $@

$(STAMP)/npm: $(STAMP)/apt $(wildcard web/package.json web/package-lock.json)
	if [ -f web/package.json ]; then cd web && npm ci --no-audit --no-fund --loglevel=error; fi
	touch $@

$(STAMP)/catkin: $(STAMP)/venv $(ROS_SOURCES) scripts/link-workspace.sh
	cd $(WS) && flock $(WS)/.build.lock catkin_make --force-cmake -DPYTHON_EXECUTABLE=$(PY) -DCATKIN_ENABLE_TESTING=OFF \
	  -DCMAKE_BUILD_TYPE=Release > $(WS)/build.log 2>&1 || { tail -40 $(WS)/build.log; exit 1; }
	touch $@

firmware: $(STAMP)/apt ## build the locker firmware and its simavr harness
	if [ -f firmware/Makefile ]; then $(MAKE) --no-print-directory -C firmware; fi

test: build ## run every test tier (unit, ros, e2e)
	$(ENV) && $(PY) scripts/run_tests.py

test-unit: build ## only the tests that need no roscore
	$(ENV) && $(PY) scripts/run_tests.py --tier unit

test-ros: build ## only the node integration tests
	$(ENV) && $(PY) scripts/run_tests.py --tier ros

test-e2e: build ## only the end-to-end tests
	$(ENV) && $(PY) scripts/run_tests.py --tier e2e

demo: build ## run the simulated site (ONCE=1: one order, then exit; RECORD=1: a rosbag of the mission)
	$(ENV) && $(PY) scripts/demo.py $(if $(ONCE),--once) $(if $(RECORD),--record)

scenario: build ## run a scenario with a report (ARGS="--drones 10 --lockers 5 --orders 100 ...")
	$(ENV) && $(PY) scripts/scenario.py $(ARGS)

bench: build ## run the benchmarks, print a table and JSON (QUICK=1: shorter runs)
	$(ENV) && $(PY) scripts/run_bench.py $(if $(QUICK),--quick)

lint: deps ## ruff over the Python sources
	$(VENV)/bin/ruff check src nodes tests scripts web bench

clean: ## remove build outputs (keeps the venv)
	rm -rf $(WS)/build $(WS)/devel $(STAMP)/catkin artifacts
	if [ -f firmware/Makefile ]; then $(MAKE) --no-print-directory -C firmware clean; fi

distclean: clean ## remove everything make installed into the checkout
	rm -rf $(VENV) $(STAMP) web/node_modules
