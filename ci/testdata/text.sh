#!/usr/bin/env bash
# Builds the venv the clinical-text tests and benchmark use (issue 7):
#   ${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}/venv-text
# with the field's readers of clinlabel's text exports — bratly (BRAT), bioc
# (BioC XML), spaCy (DocBin), conllu + seqeval (CoNLL-2003/IOB2),
# label-studio-sdk (Label Studio validation and converter) — and medspaCy 1.3.1,
# whose ConText `clinlabel bench text` runs beside ours.
# crates/clinlabel-text/tests/field_readers.rs runs ci/testdata/text_readers.py
# in it. Skips all work when the venv is newer than this script.
set -euo pipefail
root="${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}"
venv="$root/venv-text"
stamp="$venv/.clinlabel-text-stamp"

if [[ -f "$stamp" && "$stamp" -nt "${BASH_SOURCE[0]}" ]]; then
  echo "text venv up to date: $venv"
  exit 0
fi
mkdir -p "$root"
python="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
# medspaCy 1.3.1 pins spaCy 3.7, whose thinc is built against numpy 1.x; label-studio-sdk
# asks for numpy>=2.2 but its validator and converter run on 1.26 (pandas<3 for numpy 1.x).
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  "medspacy==1.3.1" "spacy==3.7.5" "bratly==0.1.4" "bioc==2.1" "conllu==6.0.0" "seqeval==1.2.2" \
  "label-studio-sdk==2.1.2"
"$venv/bin/pip" install --quiet --disable-pip-version-check "numpy==1.26.4" "pandas>=2.2,<3" 2>&1 | grep -v -e "incompatible" -e "dependency resolver" || true
"$venv/bin/python" -c "import spacy, medspacy, bratly, bioc, conllu, seqeval, label_studio_sdk.converter"
touch "$stamp"
echo "text venv ready: $venv"
