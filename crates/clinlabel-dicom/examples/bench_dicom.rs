//! `clinlabel bench dicom` without the rest of the binary:
//! decode + window/level of one frame beside pydicom + numpy.
//!
//! usage: bench_dicom [FILE] [ITERATIONS]   (release build)

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let file = args.get(1).filter(|s| !s.is_empty()).map(std::path::PathBuf::from);
    let iterations = args.get(2).map(|s| s.parse().expect("ITERATIONS")).unwrap_or(500);
    let python = clinlabel_dicom::bench::default_python();
    match clinlabel_dicom::bench::run(file.as_deref(), iterations, &python, None) {
        Ok(r) => println!("{r}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
