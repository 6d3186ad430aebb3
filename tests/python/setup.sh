#!/usr/bin/env bash
# Create .venv-clients with Ollama's and OpenAI's official Python clients, for the proxy's
# real-client tests (src/proxy/tests/python_clients.rs and tests/proxy/python.rs run
# tests/python/clients.py with it).
# Without network access to PyPI it prints one SKIPPED line and exits 0; the Rust test
# then skips too, saying so.
set -uo pipefail
cd "$(dirname "$0")/../.."

VENV=.venv-clients
PYTHON=${PYTHON:-python3}

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import ollama, openai' 2>/dev/null; then
    echo "python clients: $VENV ready"
    exit 0
fi
if ! command -v "$PYTHON" >/dev/null; then
    echo "SKIPPED: python clients: no $PYTHON on PATH"
    exit 0
fi
if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
    echo "SKIPPED: python clients: cannot create a venv with $PYTHON -m venv"
    rm -rf "$VENV"
    exit 0
fi
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --timeout 30 \
    'ollama>=0.4,<1' 'openai>=1.40,<3' >/dev/null 2>&1; then
    echo "SKIPPED: python clients: pip could not install ollama and openai (no network?)"
    rm -rf "$VENV"
    exit 0
fi
echo "python clients: $VENV ready"
