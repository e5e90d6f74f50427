#!/usr/bin/env bash
# DICOM reference data for crates/clinlabel-dicom (issue 8).
#
# Installs, in a throwaway virtualenv
#   ${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}/venv-dicom
# pydicom 3.0.2 with its decoders (pylibjpeg + openjpeg + libjpeg + rle, pyjpegls)
# and pydicom-data (the real test files), then writes
#   ${CLINLABEL_TESTDATA}/dicom/reference.json + frames/*.raw
# (frame 0 of every test file pydicom decodes, as pydicom's pixel_array), which
# crates/clinlabel-dicom/tests/reference.rs compares against.
# The reference is skipped when it is newer than this script and the generator.
#
# Then it de-identifies a sample of those files with the Rust de-identifier
# (example `deid_corpus`) and has pydicom re-read every output
# (dicom/deid/pydicom.json, checked by tests/deid.rs). That part always runs,
# since it checks the current Rust code.
#
# cmake is needed to build CharLS (JPEG-LS) through dicom-pixeldata's `charls`
# feature: installed with apt when missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
root="${CLINLABEL_TESTDATA:-$HOME/.cache/clinlabel-testdata}"
venv="$root/venv-dicom"
out="$root/dicom"
gen="$here/dicom_reference.py"

if ! command -v cmake >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "dicom.sh: cmake is missing (needed for CharLS / JPEG-LS): apt-get install cmake" >&2
    exit 1
  fi
  echo "dicom.sh: installing cmake (CharLS build)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends cmake >/dev/null
fi

python="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import pydicom, pylibjpeg, openjpeg, libjpeg, rle, jpeg_ls, numpy, data_store" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "pydicom==3.0.2" "numpy>=2,<3" "pydicom-data==1.0.0" \
    "pylibjpeg==2.1.0" "pylibjpeg-openjpeg==2.6.0" "pylibjpeg-libjpeg==2.5.0" \
    "pylibjpeg-rle==2.2.0" "pyjpegls==1.5.1"
fi

if [[ -f "$out/reference.json" && "$out/reference.json" -nt "$gen" && "$out/reference.json" -nt "${BASH_SOURCE[0]}" ]]; then
  echo "dicom reference up to date: $out/reference.json"
else
  rm -rf "$out.tmp"
  mkdir -p "$out.tmp"
  "$venv/bin/python" "$gen" reference "$out.tmp"
  rm -rf "$out"
  mv "$out.tmp" "$out"
  echo "wrote $out/reference.json"
fi

# De-identify a sample with the current Rust code, and have pydicom re-read it.
# Built aside and swapped in at the end, so a test run reading the previous
# corpus never sees a half-written one.
deid="$out/deid"
work="$out/deid.tmp.$$"
rm -rf "$work"
mkdir -p "$work"
(cd "$repo" && cargo run --quiet -p clinlabel-dicom --features jpegls --example deid_corpus -- "$out/reference.json" "$work")
"$venv/bin/python" "$gen" verify-deid "$out" "$work" "$work/pydicom.json"
rm -rf "$deid.old"
if [[ -d "$deid" ]]; then mv "$deid" "$deid.old"; fi
mv "$work" "$deid"
rm -rf "$deid.old"
