#!/usr/bin/env bash
# Measures what anyclaude costs over a direct connection (see benches/proxy.rs).
#   scripts/bench.sh           # full run: prints the table, writes BENCHMARKS.md
#   scripts/bench.sh --quick   # under a minute; fails only on gross regressions
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo bench --quiet --bench proxy -- "$@"
