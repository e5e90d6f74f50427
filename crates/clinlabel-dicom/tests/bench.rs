//! `clinlabel bench dicom` measures like with like: a few iterations (no
//! timing asserted) must reach pydicom + numpy through the virtualenv of
//! `ci/testdata/dicom.sh` and give the very same 8-bit frame.

#[test]
fn the_dicom_bench_compares_the_same_8_bit_frame_with_pydicom() {
    let python = clinlabel_dicom::bench::default_python();
    let r = clinlabel_dicom::bench::run(None, 3, &python, None)
        .unwrap_or_else(|e| panic!("{e} (run `bash ci/testdata/dicom.sh` to make the virtualenv)"));
    assert_eq!((r.columns, r.rows, r.dtype), (512, 512, "int16"));
    let p = r.pydicom.as_ref().unwrap_or_else(|e| panic!("pydicom side: {e}"));
    assert_eq!((p.max_diff, p.pixels_differing), (0, 0), "our window/level differs from numpy's");
    let text = r.to_string();
    assert!(text.contains("pydicom 3.0.2") && text.contains("goal ≤ 2 ms"), "{text}");
}
