#!/usr/bin/env bash
# Formatting check (clang-format) and static analysis (clang-tidy) over the project's sources.
# Usage: scripts/lint.sh [--fix]   (needs a configured ./build for compile_commands.json)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run --Werror "${files[@]}"
fi
mapfile -t sources < <(git ls-files 'sim/*.cpp' 'isa/*.cpp' 'models/*.cpp' 'workloads/*.cpp' 'app/*.cpp')
# The build precompiles common headers (BWSIM_PCH): GCC's .gch files mean nothing to clang, so
# clang-tidy reads a copy of the compile database without them (which also checks that every
# file includes what it uses).
python3 - build/compile_commands.json build/lint/compile_commands.json <<'PY'
import json, os, re, sys
db = [e for e in json.load(open(sys.argv[1])) if not e["file"].endswith("cmake_pch.hxx.cxx")]
for e in db:
    e["command"] = re.sub(r" -Winvalid-pch -include \S+cmake_pch\.hxx", "", e["command"])
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
json.dump(db, open(sys.argv[2], "w"), indent=0)
PY
clang-tidy -p build/lint --quiet "${sources[@]}"
