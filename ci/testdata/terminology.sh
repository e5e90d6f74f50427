#!/usr/bin/env bash
# ICD-10-CM reference for crates/clinlabel-terminology/tests/icd10cm_2026.rs (issue 7).
#
# Installs simple-icd-10-cm 1.5.0 (a reader of the CMS ICD-10-CM April 1 2026
# tabular XML, independent of ours) in a throwaway virtualenv
#   ${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}/venv-terminology
# and writes every code it knows with its parent, leaf flag and description to
#   ${CLINLABEL_TESTDATA}/terminology/icd10cm-simple-icd-10-cm.tsv
# which the Rust test compares with clinlabel's bundled ICD-10-CM, code by code.
# Skips the work when the file is newer than this script.
set -euo pipefail
root="${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}"
venv="$root/venv-terminology"
out="$root/terminology/icd10cm-simple-icd-10-cm.tsv"
if [[ -f "$out" && "$out" -nt "${BASH_SOURCE[0]}" ]]; then
  echo "ICD-10-CM reference up to date: $out"
  exit 0
fi
mkdir -p "$root/terminology"
if [[ ! -x "$venv/bin/python" ]]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "simple-icd-10-cm==1.5.0"
"$venv/bin/python" - "$out.tmp" <<'PY'
import sys
import simple_icd_10_cm as cm
seen = set()
with open(sys.argv[1], "w", encoding="utf-8", newline="\n") as f:
    f.write("code\tparent\tleaf\tkind\tdescription\n")
    for code in cm.get_all_codes(with_dots=True):
        # A section named like its only category (B99) is listed twice and
        # answers as the category: keep one row.
        if code in seen:
            continue
        seen.add(code)
        kind = "chapter" if cm.is_chapter(code) else "block" if cm.is_block(code) else "code"
        desc = " ".join(cm.get_description(code).split())
        f.write(f"{code}\t{cm.get_parent(code)}\t{int(cm.is_leaf(code))}\t{kind}\t{desc}\n")
PY
mv "$out.tmp" "$out"
echo "wrote $out"
