//! A stand-in for `clinlabel agreement` (which the binary crate wires to
//! [`clinlabel_agreement::cli::run`]):
//! `cargo run -p clinlabel-agreement --example agreement_cli -- FILE [FILE2] [--json] [--metric M] [--level L] [--bootstrap N --seed S]`
use clinlabel_agreement::BootstrapOptions;
use clinlabel_agreement::cli::{CliOptions, run};

fn main() {
    let mut files = Vec::new();
    let mut opts = CliOptions::default();
    let mut args = std::env::args().skip(1);
    let mut boot: Option<usize> = None;
    let mut seed = 0u64;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => opts.json = true,
            "--metric" => opts.metric = args.next(),
            "--level" => opts.level = args.next(),
            "--bootstrap" => boot = args.next().map(|s| s.parse().expect("--bootstrap N")),
            "--seed" => seed = args.next().map(|s| s.parse().expect("--seed S")).unwrap(),
            _ => files.push(a),
        }
    }
    opts.bootstrap = boot.map(|replicates| BootstrapOptions {
        replicates,
        seed,
        ..Default::default()
    });
    let contents: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            (
                f.clone(),
                std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{f}: {e}")),
            )
        })
        .collect();
    let inputs: Vec<(&str, &str)> = contents
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    match run(&inputs, &opts) {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
