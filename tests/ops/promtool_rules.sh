#!/usr/bin/env bash
# ctest ops.Alerts.*: `promtool check rules FILE` or `promtool test rules FILE`.
# promtool comes from Debian's prometheus package (scripts/deps.sh installs it);
# without it the test fails.
set -euo pipefail
mode=${1:?usage: promtool_rules.sh check|test FILE}
file=${2:?usage: promtool_rules.sh check|test FILE}
if ! command -v promtool >/dev/null 2>&1; then
  echo "FAIL: promtool is not installed; it comes with Debian's prometheus package (run scripts/deps.sh as root)" >&2
  exit 1
fi
promtool --version 2>&1 | head -n 1
exec promtool "$mode" rules "$file"
