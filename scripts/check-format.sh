#!/usr/bin/env bash
# Fails when a C++ file of the repository differs from what clang-format
# (.clang-format at the root) makes of it; lists the files. Part of the test
# suite (label unit). Fix with:  scripts/check-format.sh --fix
source "$(dirname "$0")/common.sh"

command -v clang-format >/dev/null || die "clang-format is not installed; run scripts/deps.sh"
cd "$OUTBOX_ROOT"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.cpp' '*.hpp' '*.h' '*.cc')
else
  mapfile -t files < <(find . -path ./build\* -prune -o \( -name '*.cpp' -o -name '*.hpp' \) -print)
fi
if [[ ${1:-} == --fix ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  [[ -f $f ]] || continue
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  log "${#bad[@]} file(s) not formatted as .clang-format says (run scripts/check-format.sh --fix):"
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
log "${#files[@]} C++ files formatted"
