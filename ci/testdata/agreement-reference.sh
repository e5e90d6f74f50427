#!/usr/bin/env bash
# Regenerates the agreement reference values (issue 6) from the Python reference
# implementations, installed in a throwaway virtualenv:
#   ${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}/venv-agreement
# and writes
#   ${CLINLABEL_TESTDATA}/agreement/reference.json
# which crates/clinlabel-agreement/tests/reference.rs compares against (1e-9).
# Skips all work when reference.json is newer than this script and the generator.
# krippendorff is GPL: it is only run here as a test oracle, never linked or shipped.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}"
venv="$root/venv-agreement"
out="$root/agreement/reference.json"
gen="$here/agreement_reference.py"

if [[ -f "$out" && "$out" -nt "$gen" && "$out" -nt "${BASH_SOURCE[0]}" ]]; then
  echo "agreement reference up to date: $out"
  exit 0
fi
mkdir -p "$root/agreement"
python="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "numpy>=2,<3" "scipy>=1.15.1" "pandas>=2,<3" \
  "scikit-learn==1.9.1" "statsmodels==0.15.0" "krippendorff==0.9.0" \
  "nltk==3.10.4" "pyannote.metrics==4.2.0" \
  "jiwer==4.0.0" "shapely==2.2.0" "medpy==0.5.2"
# irrCAC pins an old scipy that pyannote.metrics refuses; it runs fine without the pin,
# but not on pandas 3 (its masked counts change: AC1 off, AC2 NaN), hence pandas<3 above.
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "irrCAC==0.4.4"
"$venv/bin/python" "$gen" "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
