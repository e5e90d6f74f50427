//! Writes every export of annotations drawn on real pydicom series, for the
//! field's readers to check (`ci/testdata/imaging.sh`).
//!
//! usage: export_corpus REFERENCE_JSON OUT_DIR
//!
//! REFERENCE_JSON is `ci/testdata/dicom.sh`'s reference.json (it lists the
//! pydicom / pydicom-data files with their paths). For each series of the
//! corpus (`tests/corpus/mod.rs`) it writes into OUT_DIR/<name>/: `seg.dcm`,
//! `labels.nii.gz` and `instances.nii` (or the refusal, in `summary.json`),
//! `native.json`, and `summary.json` (what each writer reported, the source
//! files); then OUT_DIR/coco.json over all of them and OUT_DIR/index.json.

#[path = "../tests/corpus/mod.rs"]
mod corpus;

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(reference), Some(out)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: export_corpus REFERENCE_JSON OUT_DIR");
        std::process::exit(2);
    };
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reference).unwrap()).unwrap();
    let mut loaded = Vec::new();
    for spec in corpus::SERIES {
        let l = corpus::load(&reference, spec);
        let r = corpus::render(spec, &l);
        let dir = out.join(spec.name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut summary = json!({ "name": spec.name, "why": spec.why, "files": l.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>() });
        match r.seg {
            Ok((bytes, s)) => {
                std::fs::write(dir.join("seg.dcm"), bytes).unwrap();
                summary["seg"] = json!(s);
            }
            Err(e) => summary["seg_error"] = json!({ "code": e.code(), "message": e.to_string() }),
        }
        match r.nifti {
            Ok((semantic, s, instances, si)) => {
                let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(dir.join("labels.nii.gz")).unwrap(), flate2::Compression::default());
                gz.write_all(&semantic).unwrap();
                gz.finish().unwrap();
                std::fs::write(dir.join("instances.nii"), instances).unwrap();
                summary["nifti"] = json!(s);
                summary["nifti_instances"] = json!(si);
            }
            Err(e) => summary["nifti_error"] = json!({ "code": e.code(), "message": e.to_string() }),
        }
        std::fs::write(dir.join("native.json"), &r.native).unwrap();
        std::fs::write(dir.join("summary.json"), serde_json::to_vec_pretty(&summary).unwrap()).unwrap();
        eprintln!("{}: {} frames of {}×{}", spec.name, l.series.frame_count(), l.series.columns, l.series.rows);
        loaded.push((spec, l));
    }
    std::fs::write(out.join("coco.json"), corpus::coco(&loaded)).unwrap();
    let names: Vec<&str> = corpus::SERIES.iter().map(|s| s.name).collect();
    std::fs::write(out.join("index.json"), serde_json::to_vec_pretty(&json!({ "series": names })).unwrap()).unwrap();
}
