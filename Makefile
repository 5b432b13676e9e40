# macvlan-conformance: two commands do all the set-up on a fresh Debian machine (as root):
#   make conformance   the conformance suites on the embedded lab; reports under reports/
#   make test          our own tests (unit + lab integration)
# Both install what is missing first: Debian packages (apt) and a virtualenv with the pinned deps.

VENV        ?= .venv
PYTHON      ?= python3
PY          := $(VENV)/bin/python
PYTEST      := $(PY) -m pytest
REPORTS     ?= reports
TOPOLOGY    ?= reference
WORKERS     ?= 1
TARGET      ?= lab
APT_PACKAGES := openvswitch-switch containernetworking-plugins iproute2 iputils-ping iputils-arping \
                traceroute tcpdump ethtool procps util-linux python3-venv nftables chromium
ALLURE      ?= 3.18.0
# Allure's options: one self-contained HTML file, the tree grouped mode > area > check (fixtures/allure_support.py)
ALLURERC    := macvlan_conformance/report/allurerc.json
# npx runs Allure 3 (make report, and the Allure test of make test). Debian 12's nodejs (18) and npm are installed
# only when there is no npx: a NodeSource nodejs brings its own npm, and conflicts with Debian's.
NODE_PACKAGES := nodejs npm
# pytest-xdist only for WORKERS > 1 (on the lab a serial run is the faster one: see bench/README.md)
XDIST       := $(if $(filter-out 0 1,$(WORKERS)),-n $(WORKERS) --dist loadfile)

.PHONY: setup host-packages venv components conformance report selftest test lab-cleanup clean wheel

setup: host-packages venv

# Install only what is missing (dpkg knows), so a prepared machine pays nothing.
host-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	command -v npx >/dev/null 2>&1 || missing="$$missing $(NODE_PACKAGES)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(VENV)/.installed

# The real kube-apiserver, kube-controller-manager, etcd and Multus, built from their pinned Go modules into
# ~/.cache/macvlan-conformance (a no-op once built; about 20 minutes cold on 2 cores). Needs Go >= 1.26.
components:
	@PATH="$$PATH:/usr/local/go/bin" bash components/build.sh >/dev/null

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# The conformance suites on a lab built for this run (torn down at the end, also on Ctrl-C); TARGET=kube runs
# them through a real control plane on the lab (the cluster target against kube-apiserver and real Multus).
# Exit status: pytest's (0 all checks passed, 1 some failed); the reports are written either way.
conformance: setup $(if $(filter kube,$(TARGET)),components)
	@mkdir -p $(REPORTS)
	$(PYTEST) suites --target $(TARGET) --topology $(TOPOLOGY) $(XDIST) \
	  --junitxml=$(REPORTS)/junit.xml --alluredir=$(REPORTS)/allure-results \
	  --results $(REPORTS)/results.json --catalogue $(REPORTS)/catalogue.yaml \
	  --html-report $(REPORTS)/conformance.html --history $(REPORTS)/history.jsonl

# The wheel (the library with the suites, fixtures and topologies inside): dist/macvlan_conformance-*.whl.
# Installed anywhere, `macvlan-conformance run` runs the suites (README: "Ways to run").
wheel: venv
	rm -rf build  # setuptools would pack what an earlier build left there
	$(PY) -m pip wheel -q --no-deps -w dist .

# The Allure HTML report of the last run, with the Allure 3 command line from the npm registry (pure Node, no
# Java), fetched by npx on first use and cached in ~/.npm: one self-contained file that opens from the file system.
report:
	@test -d $(REPORTS)/allure-results || { echo "no $(REPORTS)/allure-results: run make conformance first"; exit 2; }
	@command -v npx >/dev/null || { echo "no npx: install Node.js and npm (Debian: apt-get install nodejs npm)"; exit 2; }
	@rm -rf $(REPORTS)/allure-report
	npx --yes allure@$(ALLURE) generate --config $(ALLURERC) $(REPORTS)/allure-results --output $(REPORTS)/allure-report
	@echo "Allure report, one self-contained file (no server needed): $(REPORTS)/allure-report/index.html"
	@echo "  open it in a browser: file://$(abspath $(REPORTS))/allure-report/index.html"
	@echo "  (the suites' own report: file://$(abspath $(REPORTS))/conformance.html)"

# Prove the suites catch broken networks: every fault of the catalogue, with its detection matrix.
selftest: setup
	$(VENV)/bin/macvlan-conformance selftest --topology $(TOPOLOGY) --workers $(WORKERS) \
	  --output $(REPORTS)/selftest.json --html $(REPORTS)/selftest.html --workdir $(REPORTS)/selftest

# Our own tests, in two pytest sessions: the unit, report and cluster-double tests (no lab) on both cores with
# pytest-xdist, then the lab and kube tests one at a time (they build labs and time probes).
# TESTS_ARGS goes to both (e.g. TESTS_ARGS="-k gateway"). pytest exits 5 when a session collects nothing
# (a -k that matches none of its tests): that is said loudly and not treated as a failure.
TEST_SESSIONS := "tests/unit tests/report tests/cluster -n 2" "tests/lab tests/kube"
test: setup components
	@rc=0; for session in $(TEST_SESSIONS); do \
	  echo "== pytest $$session $(TESTS_ARGS)"; \
	  $(PYTEST) $$session $(TESTS_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "macvlan-conformance: pytest collected no tests in $$session (exit 5)"; \
	  elif [ $$status -ne 0 ]; then rc=$$status; fi; \
	done; exit $$rc

# Remove every lab of ours left by a crashed run (only objects carrying our marks).
lab-cleanup: venv
	$(VENV)/bin/macvlan-conformance lab cleanup

clean:
	rm -rf $(VENV) build dist *.egg-info
