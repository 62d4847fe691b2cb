#!/usr/bin/env bash
# Installs the pinned Claude Code versions the end-to-end tests run against into an
# ignored, cached folder (default: .cache/claude-code/<version>) and prints nothing else
# but progress. Idempotent: a version whose binary already answers --version is skipped.
#
#   scripts/install-claude.sh            # installs every pinned version
#   scripts/install-claude.sh 2.1.332    # installs just one
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${ANYCLAUDE_CLAUDE_CACHE:-$here/.cache/claude-code}"
versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
    # shellcheck disable=SC2207
    versions=($(cat "$here/scripts/claude-versions"))
fi

for v in "${versions[@]}"; do
    dir="$cache/$v"
    bin="$dir/node_modules/@anthropic-ai/claude-code/bin/claude.exe"
    if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "^$v"; then
        echo "claude-code $v: cached at $bin"
        continue
    fi
    echo "claude-code $v: installing into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
        "@anthropic-ai/claude-code@$v" >/dev/null
    if ! "$bin" --version | grep -q "^$v"; then
        echo "claude-code $v: installed, but $bin does not report version $v" >&2
        exit 1
    fi
    echo "claude-code $v: ok"
done
