# Perimeter: every target builds what it needs into .venv first.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: run demo test lint bench setup clean

$(STAMP): requirements.txt requirements-dev.txt scripts/setup.sh
	bash scripts/setup.sh

setup: $(STAMP)

run: $(STAMP)
	$(PY) -m chalicelib.local

# Offline: loopback demo sites good.test and bad.test, scanned by the embedded stack; PDFs into DEMO_OUT.
DEMO_OUT ?= demo-reports
demo: $(STAMP)
	$(PY) scripts/demo.py --out $(DEMO_OUT)

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: $(STAMP)
	@$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(dir $(PY))lint-imports

bench: $(STAMP)
	@mkdir -p bench/results
	@for b in bench/bench_*.py; do m=$$(basename $$b .py); echo "== $$m"; $(PY) -m bench.$$m || exit 1; done
	@echo "== cost (reads bench/results/bench_pipeline.json)"; $(PY) -m bench.cost

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache bench/results/*.json

# --- AWS deployment (docs/deploy.md) ---------------------------------------------------------------
.PHONY: package stage-config
STAGE ?= prod

# dist/lambda.zip + dist/api-routes.json for infra/terraform; prints the package size as JSON.
package: $(STAMP)
	$(PY) scripts/package.py

# Terraform outputs -> .chalice/config.json stages.$(STAGE).environment_variables (no secrets).
stage-config: $(STAMP)
	$(PY) scripts/stage_config.py --stage $(STAGE)
