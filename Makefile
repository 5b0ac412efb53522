VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
OUTPUTS ?= data/outputs

.PHONY: run test lint bench bench-short torture venv clean install uninstall

$(STAMP): pyproject.toml scripts/install-system-deps
	./scripts/install-system-deps
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	mkdir -p $(OUTPUTS)
	cp -rn examples/demo-ep001 $(OUTPUTS)/ 2>/dev/null || true
	@echo "imagegen daemon on $(OUTPUTS) (Ctrl-C stops it). Drop another episode with:"
	@echo "  cp -r examples/demo-ep002 $(OUTPUTS)/"
	@echo "Each episode also gets a storyboard: $(OUTPUTS)/<episode>/storyboard/"
	@echo "Review pages, written after each job: file://$(abspath $(OUTPUTS))/index.html"
	@echo "  (with buttons: .venv/bin/imagegen web --outputs-dir $(OUTPUTS))"
	# --storyboard: the demo shows the storyboard too (setting storyboard.enabled; with no
	# key it is the template planner and the offline renderer, free).
	$(VENV)/bin/imagegen daemon --outputs-dir $(OUTPUTS) --storyboard -v

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Exits non-zero when any figure misses its target. inotify-tools: the latency floor.
bench: $(STAMP)
	./scripts/install-system-deps inotify-tools
	$(PY) bench/run.py

bench-short: $(STAMP)
	./scripts/install-system-deps inotify-tools
	$(PY) bench/run.py --short

torture: $(STAMP)
	$(PY) -m tests.torture --json torture-report.json

clean:
	rm -rf $(VENV) data .cache .pytest_cache .mypy_cache .ruff_cache

# -- installation as a systemd service (as root) -------------------------------------
PREFIX ?= /opt/imagegen
CONFDIR ?= /etc/imagegen
UNITDIR ?= /etc/systemd/system
STATEDIR ?= /var/lib/imagegen
# Where the `imagegen` command is linked, so that it is on every user's PATH.
BINDIR ?= /usr/local/bin
# The system Python: a venv on a Python under /root or /home would be hidden from the
# service by ProtectHome=.
SYSTEM_PYTHON ?= /usr/bin/python3

install:
	@test "$$(id -u)" = 0 || { echo "make install must run as root"; exit 1; }
	./scripts/install-system-deps --runtime-only python3-venv
	getent group imagegen >/dev/null || groupadd --system imagegen
	getent passwd imagegen >/dev/null || useradd --system --gid imagegen \
		--home-dir $(STATEDIR) --no-create-home --shell /usr/sbin/nologin imagegen
	$(SYSTEM_PYTHON) -m venv --clear $(PREFIX)/venv
	$(PREFIX)/venv/bin/pip install -q --upgrade pip
	$(PREFIX)/venv/bin/pip install -q .
	install -m 644 README.md $(PREFIX)/README.md
	install -d -m 755 $(CONFDIR)
	install -d -m 700 $(CONFDIR)/credentials
	for key in openai_api_key anthropic_api_key gemini_api_key replicate_api_token; do \
		test -e $(CONFDIR)/credentials/$$key || install -m 600 /dev/null $(CONFDIR)/credentials/$$key; \
	done
	test -e $(CONFDIR)/imagegen.toml || sed 's|^outputs_dir = .*|outputs_dir = "$(STATEDIR)/outputs"|' \
		config/imagegen.default.toml > $(CONFDIR)/imagegen.toml
	install -d -o imagegen -g imagegen -m 2775 $(STATEDIR) $(STATEDIR)/outputs
	install -m 644 systemd/imagegen.service $(UNITDIR)/imagegen.service
	install -d -m 755 $(BINDIR)
	ln -sfn $(PREFIX)/venv/bin/imagegen $(BINDIR)/imagegen
	if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "installed; $(BINDIR)/imagegen is on PATH. Put an API key in"
	@echo "$(CONFDIR)/credentials/openai_api_key (optional), then:"
	@echo "  systemctl enable --now imagegen && journalctl -u imagegen -f"

uninstall:
	@test "$$(id -u)" = 0 || { echo "make uninstall must run as root"; exit 1; }
	if [ -d /run/systemd/system ]; then systemctl disable --now imagegen || true; fi
	rm -f $(UNITDIR)/imagegen.service
	# Only our own link: an imagegen installed there by other means stays.
	if [ "$$(readlink $(BINDIR)/imagegen)" = "$(PREFIX)/venv/bin/imagegen" ]; then \
		rm -f $(BINDIR)/imagegen; fi
	rm -rf $(PREFIX)
	if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "removed. Kept: $(CONFDIR) (settings, keys), $(STATEDIR) (data), user imagegen."
