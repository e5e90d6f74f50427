//! Peak memory while ingesting a large series (release build).
//!
//!   bench_ingest generate TEMPLATE DIR GIB   write a series of GIB GiB: copies of
//!                                            TEMPLATE (a real 512×512 CT) with
//!                                            their own SOP Instance UID, Instance
//!                                            Number and Image Position
//!   bench_ingest ingest DIR                  ingest every file (pre-scan, parse,
//!                                            pixel checks, decode of frame 0,
//!                                            de-identification to memory), group,
//!                                            and print peak RSS (VmHWM) as JSON
//!
//! The two steps run as separate processes so that the peak measured is the
//! ingest's own.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clinlabel_dicom::ingest::{IngestOptions, ItemKind, ingest_bytes};
use clinlabel_dicom::{DateOption, DeidOptions, Limits, deidentify_bytes, open_bytes};
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;

fn vm_hwm_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn generate(template: &Path, dir: &Path, gib: f64) {
    std::fs::create_dir_all(dir).unwrap();
    let bytes = std::fs::read(template).unwrap();
    let target = (gib * (1u64 << 30) as f64) as u64;
    let mut written = 0u64;
    let mut k = 0u32;
    while written < target {
        let mut f = open_bytes(&bytes, &Limits::default()).unwrap();
        let uid = format!("1.2.826.0.1.3680043.66.{k}");
        f.obj.put(DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(uid.clone()),
        ));
        f.obj.put(DataElement::new(
            tags::INSTANCE_NUMBER,
            VR::IS,
            PrimitiveValue::from(format!("{}", k + 1)),
        ));
        f.obj.put(DataElement::new(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            PrimitiveValue::Strs(
                [
                    "-250".to_string(),
                    "-250".to_string(),
                    format!("{:.2}", k as f64 * 0.5),
                ]
                .into_iter()
                .collect(),
            ),
        ));
        f.obj.put(DataElement::new(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            PrimitiveValue::Strs(
                ["1", "0", "0", "0", "1", "0"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
        ));
        f.obj.meta_mut().media_storage_sop_instance_uid = uid;
        let mut out = Vec::with_capacity(bytes.len() + 256);
        f.obj.write_all(&mut out).unwrap();
        std::fs::write(dir.join(format!("{k:06}.dcm")), &out).unwrap();
        written += out.len() as u64;
        k += 1;
    }
    println!("{{\"generated_files\":{k},\"bytes\":{written}}}");
}

fn ingest_dir(dir: &Path) {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let before = vm_hwm_kib();
    let t0 = Instant::now();
    let opts = IngestOptions {
        limits: Limits::default(),
        decode_first_frame: true,
    };
    let deid = DeidOptions::new(b"bench project", DateOption::Shift { days: 10 });
    let mut total = 0u64;
    let mut metas = Vec::new();
    let mut deid_bytes = 0u64;
    for p in &paths {
        let bytes = std::fs::read(p).unwrap();
        total += bytes.len() as u64;
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let item = ingest_bytes(&name, &bytes, &opts).unwrap();
        if let ItemKind::Dicom { meta } = item.kind {
            metas.push((name.clone(), *meta));
        }
        let (out, _report) = deidentify_bytes(&bytes, &deid, &name).unwrap();
        deid_bytes += out.len() as u64;
    }
    let studies = clinlabel_dicom::group::group(&metas);
    let secs = t0.elapsed().as_secs_f64();
    let series = &studies[0].series[0];
    println!(
        "{{\"files\":{},\"bytes\":{total},\"deidentified_bytes\":{deid_bytes},\"series\":{},\"ordering\":\"{:?}\",\"seconds\":{secs:.2},\"mb_per_s\":{:.0},\"peak_rss_mib_before\":{:.1},\"peak_rss_mib\":{:.1}}}",
        paths.len(),
        studies.iter().map(|s| s.series.len()).sum::<usize>(),
        series.ordering,
        total as f64 / 1e6 / secs,
        before as f64 / 1024.0,
        vm_hwm_kib() as f64 / 1024.0
    );
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    match a.get(1).map(String::as_str) {
        Some("generate") if a.len() == 5 => {
            generate(Path::new(&a[2]), Path::new(&a[3]), a[4].parse().unwrap())
        }
        Some("ingest") if a.len() == 3 => ingest_dir(Path::new(&a[2])),
        _ => {
            eprintln!("usage: bench_ingest generate TEMPLATE DIR GIB | bench_ingest ingest DIR");
            std::process::exit(2);
        }
    }
}
