#!/usr/bin/env bash
# Mutation testing of the hardware models, the mapping and the estimator (not run in CI).
#
#   scripts/mutation.sh                      # full run, fresh mutants (tens of minutes on 2 cores)
#   MUTATION_KEEP=1 scripts/mutation.sh      # keep earlier results; re-test what changed
#   scripts/mutation.sh 'hw_models.units.*'  # re-test chosen mutants (names or globs) only
#
# Tool: mutmut 3.x, installed into the venv for this script only (it is not a project
# dependency):   .venv/bin/python -m pip install mutmut
#
# What is mutated: exactly hw_models/, analogc/mapping/ and analogc/estimate/ (every .py file
# there, render.py included). Tests run per mutant: tests/unit (the fast folder; no model is
# traced) and tests/test_mutants_*.py (mutation tests too slow for tests/unit's 30 s budget,
# e.g. the matplotlib figure). Set MUTATION_TESTS to change that, e.g.
#   MUTATION_TESTS="tests/unit tests/test_mutants_*.py tests/test_estimate.py" scripts/mutation.sh
# Deselected for every mutant: tests/unit/test_parameters_reach_the_right_view.py::
# test_every_parameter_reaches_its_view (one per preset, 1-6 s each, 25 s together): it covers
# nearly every function, so each surviving mutant would pay its 25 s (hours in all on 2 cores).
# MUTATION_PYTEST_ARGS adds pytest options (e.g. --deselect of a test that fails on the clean
# tree: mutmut needs every selected test green before it mutates anything).
#
# Configuration: kept in this script, not in pyproject.toml. The script copies the working tree
# (tracked and untracked, non-ignored files) to $MUTATION_WORKDIR (default
# /tmp/analogc-mutation), writes a setup.cfg [mutmut] section there and runs mutmut in that
# copy, so neither pyproject.toml, .gitignore nor the tree gets a mutants/ folder. mutmut needs
# the whole `analogc` package next to the mutated parts (source_paths = hw_models, analogc);
# `only_mutate` then restricts mutation to the three packages above.
#
# At the end it prints killed / survived / timeout / no tests / total and the killed
# percentage, per package and overall (timeouts count as killed: the mutant never finishes).
#
# Result (2026-11-29, mutmut 3.8.1, tests/unit + tests/test_mutants_render.py, sweep deselected):
#   package           killed  survived  timeout  no tests  total  killed %
#   analogc.estimate    1757       129        0         0   1886     93.2%
#   analogc.mapping      354         5        0         0    359     98.6%
#   hw_models           4493       235        0         2   4730     95.0%
#   overall             6604       369        0         2   6975     94.7%
# The 371 not killed are the equivalent mutants below plus survivors not yet reviewed (largest
# groups: rollup.CostRollup.phase 27, config.load_params 21, report.estimate 21,
# noise.program_crossbar 19, config.build_hardware 13); `mutmut results` lists them.
#
# Equivalent mutants left alive (they cannot change behaviour; one line each, with the reason):
#   converters._read_survey: open(newline=None) or no newline argument: the csv has no quoted
#     newlines, universal-newline reading gives the same rows
#   config.validate: raw.get("tile", None) / raw.get("tile", ): guarded by isinstance(..., dict)
#   config.validate: continue -> break in the required-key loop of a baseline: "hardware" comes
#     first in _REQUIRED, the other tables are skipped either way
#   config.preset_names: .get("hardware", None): every shipped preset has a [hardware] table
#   describe.hw_show_text: continue -> break on "_"-entries (they come last: load_params adds
#     _reference/_file/_overrides at the end, validate_noise puts _sources last); the noise-only
#     source lookup with "or True" or .get("_sources", None) (other tables have no _sources)
#   describe._fmt: repr(v) for every value: repr == str for the int/float/bool values of presets
#   family/charge/mzi/freespace .program: defaults of per_slice / t_inference_s in signatures
#     that the method ignores or that every caller passes (TileFamily.program is abstract)
#   family.describe: pass_time_s(None, cols): no family's pass time depends on the rows
#   mzi.actions_per_pass: photons_per_output(None): the MZI photon budget does not use the rows
#   noise.mzi_matrix: cdt = None: torch.polar already returns the complex dtype of theta
#   noise.clements_decompose: x.shape[+1] / x.shape[-2] (square matrices); .to(None) (only the
#     precision of a complex64 input, which is not exactly unitary anyway)
#   noise.mesh_phases_with_errors: p.get(key, None) or p.get(key, ) (None is falsy like 0.0);
#     "kappa or seq" and "nb or True" (they add kappa * 0 or 0)
#   noise.program_mzi / mesh_unitary: dtype=None / .to(None) on intermediates and cdt = None
#     (float32 rounding below the float32 output; the meshes convert to complex128 themselves)
#   noise.program_crossbar: "out = ... if per_slice or True" (a buffer nobody returns); digit_of
#     "or True" / "slices >= 1" with one slice (remainder of a magnitude below the base); gp_t
#     with "sign >= 0" (frac is 0 where the sign is 0)
#   noise / charge: torch.randn(dtype=None) on float32 tensors (the default dtype is float32)
#   charge.program: ideal path with tile=None or gen=None (ideal neither reads the tile nor
#     draws); sram path with gen=None (exact bits draw nothing); cap_mismatch defaults (the
#     validated noise table always has the key)
#   estimate.report: to_csv(index=None) (pandas treats it as False); to_text "energy_j >= 0"
#     (a positive component implies a positive total); compare "or" on decode keys (report
#     and baseline read the same graph meta)
#   estimate.decoder.kv_cache_bytes: "/" for "//" inside int() (positive sizes truncate alike)
#   estimate.render: float("NAN") for float("nan"); matplotlib.use("agg"/"AGG") and
#     savefig(format=None/"PNG") (case-insensitive, png is the default); color "#4C72B0";
#     ylim(None, 100) (bars start at 0)
#   mapping.plan.to_dataframe: float("NAN")
#   units.parse_unit: the order bases are tried in (no unit of the tables ends in a shorter
#     base with a valid prefix left over)
#   noise.validate_noise: out.get(key, None/1.0) (every known key is already in out)
#   noise.pcm_read_noise_std: t - t_read for t + t_read (t >= t0 = 20 s >> t_read = 250 ns:
#     a relative change below 1e-9, under float32)
#   crossbar.noise_std / optics.noise_std: sum(+1) / shape[+1] for -1 (2-D inputs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"
MUTMUT="$ROOT/.venv/bin/mutmut"
WORK=${MUTATION_WORKDIR:-/tmp/analogc-mutation}
TESTS=${MUTATION_TESTS:-tests/unit tests/test_mutants_*.py}
CHILDREN=${MUTATION_CHILDREN:-$(nproc)}

[ -x "$MUTMUT" ] || { echo "mutmut is not installed: $PY -m pip install mutmut" >&2; exit 2; }

# 1. copy the working tree (mutants/ from an earlier run is kept only with MUTATION_KEEP=1 or
#    when chosen mutants are re-tested)
mkdir -p "$WORK"
if [ -z "${MUTATION_KEEP:-}" ] && [ $# -eq 0 ]; then rm -rf "$WORK/mutants"; fi
find "$WORK" -mindepth 1 -maxdepth 1 ! -name mutants -exec rm -rf {} +
"$PY" - "$ROOT" "$WORK" <<'EOF'
import os, shutil, subprocess, sys
root, work = sys.argv[1:3]
files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                       check=True, capture_output=True).stdout.decode().split("\0")
for f in filter(None, files):
    src = os.path.join(root, f)
    if os.path.isfile(src):
        os.makedirs(os.path.dirname(os.path.join(work, f)), exist_ok=True)
        shutil.copy2(src, os.path.join(work, f))
EOF

# 2. the mutmut configuration (setup.cfg of the copy; pyproject.toml has no [tool.mutmut])
{
  echo "[mutmut]"
  echo "source_paths ="
  echo "    hw_models"
  echo "    analogc"
  echo "only_mutate ="
  echo "    hw_models/*"
  echo "    analogc/mapping/*"
  echo "    analogc/estimate/*"
  echo "pytest_add_cli_args_test_selection ="
  for t in $TESTS; do echo "    $t"; done
  echo "pytest_add_cli_args ="
  echo "    -q"
  echo "    -p"
  echo "    no:cacheprovider"
  echo "    --deselect=tests/unit/test_parameters_reach_the_right_view.py::test_every_parameter_reaches_its_view"
  for a in ${MUTATION_PYTEST_ARGS:-}; do echo "    $a"; done
} > "$WORK/setup.cfg"

# 3. run. mutmut forks a child per mutant from a process that has imported torch: with more
#    than one OpenMP/intra-op thread a forked child can block on a lock held by a thread that
#    does not exist in it (futex wait until the timeout, counted as a "timeout"). One thread.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
cd "$WORK"
set +e
"$MUTMUT" run --max-children "$CHILDREN" "$@"
rc=$?
set -e

# 4. the figure
"$MUTMUT" results --all true | "$PY" -c '
import collections, sys
by = collections.defaultdict(collections.Counter)
for line in sys.stdin:
    name, _, status = line.strip().rpartition(": ")
    if not name:
        continue
    pkg = "hw_models" if name.startswith("hw_models.") else ".".join(name.split(".")[:2])
    by[pkg][status] += 1
    by["overall"][status] += 1
print("%-18s%8s%10s%9s%10s%7s%7s%10s" % ("package", "killed", "survived", "timeout", "no tests", "other", "total", "killed %"))
for pkg in sorted(by, key=lambda p: (p == "overall", p)):
    c = by[pkg]
    total = sum(c.values())
    killed, timeout = c["killed"], c["timeout"]
    other = total - killed - timeout - c["survived"] - c["no tests"]
    pct = 100.0 * (killed + timeout) / total if total else 0.0
    print("%-18s%8d%10d%9d%10d%7d%7d%9.1f%%" % (pkg, killed, c["survived"], timeout, c["no tests"], other, total, pct))
'
echo "(killed % = (killed + timeout) / total; survivors: cd $WORK && $MUTMUT results; $MUTMUT show <name>)"
exit $rc
