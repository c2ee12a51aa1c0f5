# The README's commands. Each target installs what it needs: uv (into .tools/ when it is not on PATH), the
# locked Python environment (uv.lock) and the locked front-end libraries (package-lock.json).
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTHON ?= python3
RUN := $(UV) run --frozen --no-sync

.PHONY: demo test lint format check install serve worker clean

demo: install  ## start the whole platform on the embedded default at http://127.0.0.1:8000
	$(RUN) familienkarte demo

test: install  ## run the whole test suite (SQLite; PostgreSQL and Redis with FK_TEST_DATABASE_URL / FK_REDIS_URL)
	$(RUN) pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-js

lint: install  ## ruff (lint and format check) and mypy
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy familienkarte workers partner_portal tests scripts bench

format: install
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

check: lint test

install: .venv/.installed node_modules/.installed

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.installed: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

clean:
	rm -rf .venv .tools node_modules var

# Translations: extract every text into the template catalogue, then merge it into each language's catalogue
# (created when missing). German must be complete (tests/unit/test_i18n.py); the English msgids are the source text.
LOCALE_DIR := familienkarte/locale

.PHONY: messages readme-settings icons

# The languages besides German get no fuzzy guesses (a guess is never shown, and a translator may miss it).
# Leichte Sprache (ls) is no locale Babel knows: scripts/translations.py updates it as German.
OTHER_LOCALES := en tr ar uk ru pl

messages: install  ## extract texts into familienkarte/locale/messages.pot and update every language's catalogue
	$(RUN) pybabel --quiet extract -F babel.cfg --ignore-dirs=".* ._ node_modules var __pycache__ tests" \
		--project=Familienkarte --copyright-holder="the Familienkarte contributors" \
		--add-comments=Translators: --sort-by-file -o $(LOCALE_DIR)/messages.pot .
	$(RUN) pybabel --quiet update --init-missing --ignore-obsolete -i $(LOCALE_DIR)/messages.pot -d $(LOCALE_DIR) -l de
	for locale in $(OTHER_LOCALES); do \
		$(RUN) pybabel --quiet update --init-missing --ignore-obsolete --no-fuzzy-matching \
			-i $(LOCALE_DIR)/messages.pot -d $(LOCALE_DIR) -l $$locale || exit 1; \
	done
	$(RUN) python -m scripts.translations update ls

icons: install  ## render the app icons' PNG sizes from their SVG files (needs Debian's chromium)
	$(RUN) python scripts/render_icons.py

readme-settings: install  ## print the README's table of settings (generated from familienkarte/settings.py)
	@$(RUN) python -m tests.unit.test_readme

# The browser modules (familienkarte/static/js/fk1.js, status-list.js) under Node's built-in test runner, against
# the same vectors as the Python verifier. The modules are plain ES modules, so Node's note that package.json
# declares no module type is silenced.
.PHONY: test-js

test-js: install  ## run the JavaScript tests (FK1 verifier, status lists) with Node's built-in test runner
	node --disable-warning=MODULE_TYPELESS_PACKAGE_JSON --test tests/js/*.test.mjs

# Screenshots of the main pages (phone and desktop, German and Arabic) in var/screenshots/<language>/<size>/, taken
# by the browser test that also checks each page; needs Debian's chromium.
.PHONY: screenshots

screenshots: install  ## write screenshots of the main pages to var/screenshots/ (phone and desktop, de and ar)
	$(RUN) pytest tests/browser/test_screenshots.py -q
