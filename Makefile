# Shortcuts for the README's two commands (each creates .venv when missing).
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/connective: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

.PHONY: demo test tour
demo: $(BIN)/connective
	$(BIN)/connective demo

tour: $(BIN)/connective
	$(BIN)/connective demo --no-input

test: $(BIN)/connective
	$(BIN)/pytest
