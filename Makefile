# One entry point for every task. `make demo` and `make test` set up .venv themselves.
PYTHON ?= python3
VENV := .venv
# jsii (aws-cdk-lib) warns on every start that this machine's Node 20 is past its end of life
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench synth layer openapi clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/climatrak demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy layers/climatrak/climatrak functions local/climatrak_local infra_cdk

# e2e tests run the local runtime (moto server, MQTT broker, pollers) in their own process,
# apart from the moto-mocked integration tests.
test: lint typecheck
	$(BIN)/pytest -n 2 --dist loadgroup -q -m "not e2e"
	$(BIN)/pytest -q -m e2e

bench: $(STAMP)
	$(BIN)/python -m tests.bench.run

layer: $(STAMP)
	$(BIN)/python -m infra_cdk.layer

synth: layer
	$(BIN)/python -m infra_cdk.app

openapi: $(STAMP)
	$(BIN)/python -m climatrak_local.openapi docs/openapi.json

clean:
	rm -rf $(VENV) cdk.out build .mypy_cache .ruff_cache .pytest_cache
