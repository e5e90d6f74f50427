#!/usr/bin/env bash
# Image annotation exports checked by the field's readers (issue 8).
#
# Writes the exports of crates/clinlabel-imaging (example `export_corpus`:
# DICOM SEG, NIfTI label volumes, COCO JSON, native JSON) for annotations on
# real pydicom series — fetched by ci/testdata/dicom.sh, which runs first —
# and checks them (ci/testdata/imaging_check.py) with
#   dciodvfy (Debian dicom3tools: no errors beyond those of the source files),
#   highdicom 0.28.2 segread (same mask per segment and source frame),
#   nibabel 5.4.2 (voxels, orientation codes and voxel→world vs pydicom's geometry),
#   pycocotools 2.0.11 (loads, RLE decodes to the label maps, COCOeval AP 1.0),
# in a virtualenv ${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}/venv-imaging.
# Results go to ${CLINLABEL_TESTDATA}/imaging/results.json beside the exports;
# crates/clinlabel-imaging/tests/validators.rs fails on any failed check, and
# when the exports no longer match what the current code writes.
# Always runs (it checks the current Rust code); built aside and swapped in.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
root="${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}"
venv="$root/venv-imaging"
out="$root/imaging"
reference="$root/dicom/reference.json"

if ! command -v dciodvfy >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "imaging.sh: dciodvfy is missing: apt-get install dicom3tools" >&2
    exit 1
  fi
  echo "imaging.sh: installing dicom3tools (dciodvfy)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends dicom3tools >/dev/null
fi
if [[ ! -f "$reference" ]]; then
  echo "imaging.sh: $reference is missing: run bash ci/testdata/dicom.sh first" >&2
  exit 1
fi

python="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import pydicom, highdicom, nibabel, pycocotools, numpy" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "pydicom==3.0.2" "highdicom==0.28.2" "nibabel==5.4.2" "pycocotools==2.0.11" "numpy>=2,<3"
fi

work="$out.tmp.$$"
rm -rf "$work"
mkdir -p "$work"
(cd "$repo" && cargo run --quiet -p clinlabel-imaging --example export_corpus -- "$reference" "$work")
"$venv/bin/python" "$here/imaging_check.py" "$work" "$work/results.json"
rm -rf "$out.old"
if [[ -d "$out" ]]; then mv "$out" "$out.old"; fi
mv "$work" "$out"
rm -rf "$out.old"
echo "wrote $out/results.json"
