# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLOTLY_JS := static/vendor/plotly.min.js

.PHONY: run test lint bench browser clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

# Plotly's bundle ships inside the plotly wheel; written out once rather than committed (4.7 MB).
$(PLOTLY_JS): $(STAMP)
	$(BIN)/python -c "import plotly.offline as o, pathlib; pathlib.Path('$(PLOTLY_JS)').write_text(o.get_plotlyjs())"

venv: $(STAMP) $(PLOTLY_JS)

run: venv
	$(BIN)/python -m workers.launcher

# Debian's chromium (browser tests) and poppler-utils (reading PDFs back in tests); installed when we are root
# and they are missing. Without them those tests skip and say why.
browser:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) || \
			echo "could not install$$missing: the tests that need them will be skipped"; \
		else echo "missing$$missing (not root): the tests that need them will be skipped"; fi; \
	fi

test: venv browser
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

lint: venv
	$(BIN)/ruff check app workers tests bench
	$(BIN)/ruff format --check app workers tests bench

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) instance .pytest_cache
