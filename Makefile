# Garrison's two commands: `make demo` runs it with demo data; `make test` installs what the tests need and runs them.
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test install bench test-deps lock

# requirements.lock pins what the tests ran on (and what .ci/audit.py audits); refresh it with `make lock`.
$(BIN)/garrison: pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[test]'
	touch $(BIN)/garrison

lock: install
	$(BIN)/pip freeze --exclude-editable | grep -v '^pip==' > requirements.lock

install: $(BIN)/garrison

# With the shared data beside the checkout, the demo also installs SigmaHQ's rules (core+, from the folder, as
# `garrison rules update` would from a release) and splices real Windows attack recordings into its day.
SHARED ?= ../shared/data
demo: install
	@if [ -d $(SHARED)/sigma/rules ] && ! ls -d ./garrison-data/rulesets/sigmahq-* >/dev/null 2>&1; then \
	  $(BIN)/garrison --data-dir ./garrison-data rules update --from $(SHARED)/sigma --package core+ --enable --hours 0; fi
	$(BIN)/garrison --data-dir ./garrison-data serve --demo \
	  $$([ -d $(SHARED)/otrf/datasets ] && echo --demo-recordings $(SHARED)/otrf/datasets)

# System packages the tests drive for real: Debian's CrowdSec custom bouncer (installed without the
# crowdsec agent it recommends, which would try to register online); poppler-utils to read the PDF
# reports as a person would (pdftotext, pdftoppm); Pango, HarfBuzz's subsetter and DejaVu fonts for
# WeasyPrint; Chromium, which Playwright drives for the console's browser tests (Playwright's own browser
# download is not used); fail2ban, whose own sshd filter the ban comparison runs (fail2ban-regex only);
# auditd, whose ausearch is the reference the audit-log parser is checked against (the daemon is not used);
# tshark, which reads packet captures (the OTRF network recordings) into Zeek-shaped records; dovecot-imapd, the IMAP
# server the reported-phishing tests start on loopback (garrison/testing/dovecot.py; the system's instance is not used).
# postgresql, nats-server (JetStream) and default-jre-headless (for pyspark's local[2]) are the scale-out engines the
# tests start in throwaway folders (garrison/testing/servers.py); the system's instances are not used.
# CrowdSec itself is unpacked into .ci/crowdsec, not installed (its installer registers with the central API,
# which fails offline); the ban comparison replays a log through it.
DEBS = crowdsec-custom-bouncer poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
       chromium fail2ban auditd tshark dovecot-imapd postgresql nats-server default-jre-headless
CROWDSEC = .ci/crowdsec/usr/bin/crowdsec
$(CROWDSEC):
	@cd .ci && (apt-get download crowdsec >/dev/null 2>&1 || (apt-get update -qq && apt-get download crowdsec)) \
	  && dpkg-deb -x crowdsec_*.deb crowdsec && rm -f crowdsec_*.deb \
	  || echo "crowdsec could not be downloaded: the CrowdSec ban comparison will fail"
test-deps: $(CROWDSEC)
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null; \
	  else echo "run as root, or: sudo apt-get install --no-install-recommends $$missing"; fi; fi

# axe-core (npm) checks the console's pages against WCAG 2 A/AA in the browser tests.
AXE = .ci/node/node_modules/axe-core/axe.min.js
$(AXE):
	@command -v npm >/dev/null && npm install --prefix .ci/node --no-audit --no-fund --silent axe-core@4 \
	  || echo "npm not found: the accessibility checks will be skipped"

# Contracts first (layers and independence, style, types on model/store/pipeline, locked dependencies),
# then the tests.
test: install test-deps $(AXE)
	$(BIN)/ruff check garrison tests bench .ci
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python .ci/audit.py
	$(BIN)/python -m pytest -q --durations=25

bench: install
	$(BIN)/python bench/scale/run.py
	$(BIN)/python bench/ingest/run.py
	$(BIN)/python bench/sigma/run.py
	$(BIN)/python bench/decisions/run.py
	$(BIN)/python bench/rules/run.py
	$(BIN)/python bench/connectors/run.py
