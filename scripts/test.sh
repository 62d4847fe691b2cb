#!/usr/bin/env bash
# The whole test suite: installs the pinned Claude Code versions the end-to-end tests drive
# (cached under .cache/, see scripts/install-claude.sh) and the real local model server
# (scripts/install-llama.sh), then runs every test, then says how
# many end-to-end cases ran to the end on each pinned version.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh e2e             # only tests whose name contains "e2e" (cargo test filter)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v tmux >/dev/null 2>&1; then
    echo "scripts/test.sh: tmux is needed for the interactive end-to-end test; installing it" >&2
    if command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && apt-get install -y -qq tmux) >/dev/null
    fi
fi
scripts/install-claude.sh
export ANYCLAUDE_TEST_CLAUDE_DIR="${ANYCLAUDE_TEST_CLAUDE_DIR:-$PWD/.cache/claude-code}"
# The real local model server (llama-cpp-python + a 135M GGUF) for tests/it/e2e_local.rs;
# ANYCLAUDE_LLAMA_VENV picks where its venv is cached.
llama_env="$(scripts/install-llama.sh)"
while IFS= read -r line; do export "${line?}"; done <<<"$llama_env"
# Each end-to-end case appends "<version> <case>" here when it has run to the end.
mkdir -p target
export ANYCLAUDE_E2E_RECORD="$PWD/target/e2e-ran.tsv"
: >"$ANYCLAUDE_E2E_RECORD"

summary() {
    echo "== end-to-end cases run to the end, per pinned Claude Code version"
    while read -r v; do
        [ -n "$v" ] || continue
        n=$(awk -F'\t' -v v="$v" '$1 == v' "$ANYCLAUDE_E2E_RECORD" | wc -l)
        echo "   Claude Code $v: $n"
    done <scripts/claude-versions
}
status=0
cargo test "$@" || status=$?
summary
exit "$status"
