#!/usr/bin/env bash
# Installs the build into a temporary prefix and uses it from another directory, as a user of the
# installed tool would (issue #27): the binary must find its own configs, validation set and plot
# script under PREFIX/share/bwsim, not the source tree it was built from.
#   tests/install/test_install.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
mkdir "$work/elsewhere"
cd "$work/elsewhere"
unset BWSIM_CONFIG_DIR BWSIM_PLOT_SCRIPT
bwsim="$work/prefix/bin/bwsim"
fail() { echo "test_install: $*" >&2; exit 1; }

dir="$("$bwsim" version --json - | python3 -c 'import json,sys; print(json.load(sys.stdin)["config_dir"])')"
[ "$dir" = "$work/prefix/share/bwsim/configs" ] || fail "configs from '$dir', not the installed ones"
[ -x "$work/prefix/share/bwsim/scripts/plot.py" ] || fail "plot script not installed"
[ -f "$work/prefix/share/bwsim/validation/README.md" ] || fail "validation set not installed"
[ -f "$work/prefix/share/doc/bwsim/README.md" ] || fail "README not installed"
"$bwsim" list scenarios | grep -q llama70b-nvfp4-b200 || fail "list scenarios"
# The default scenario, timed (one GEMM plan per shape keeps this test short).
"$bwsim" run llama70b-nvfp4-b200 --quiet --set simulation.gemm_finalists=1 --json run.json >run.txt
grep -q "TTFT" run.txt || fail "the default scenario printed no TTFT"
python3 -c 'import json; d = json.load(open("run.json")); assert d["provenance"]["configs"], d' \
  || fail "run JSON without provenance"
# The validation set is found beside the configs.
"$bwsim" validate --only memory --quiet -j 2 >validate.txt || fail "validate from the installed data"
grep -q "memory" validate.txt || fail "validate printed no memory group"
echo "test_install: ok ($work/prefix)"
