#!/usr/bin/env bash
# Installs the pinned Claude Code versions the end-to-end tests run against into an
# ignored, cached folder (default: .cache/claude-code/<version>) and prints nothing else
# but progress. Idempotent: a version whose program already answers --version is skipped.
# The pinned versions are listed, one a line, in scripts/claude-versions (the one list).
#
# Each version is run through npm's own link, <dir>/node_modules/.bin/claude: for 2.1.x a
# native binary (bin/claude.exe), for 2.0.x the package's `cli.js`, a Node script with a
# `#!/usr/bin/env node` line, so Node (>= 18) must be on PATH to run 2.0.x.
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
    bin="$dir/node_modules/.bin/claude"
    if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "^$v"; then
        echo "claude-code $v: cached at $bin"
        continue
    fi
    case "$v" in
    2.0.*)
        if ! command -v node >/dev/null 2>&1; then
            echo "claude-code $v: runs on Node (>= 18), which is not on PATH; install Node first" >&2
            exit 1
        fi
        ;;
    esac
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
