//! `clinlabel agreement`: reads the files and prints what
//! `clinlabel_agreement::cli::run` computes (the crate does no IO).

use clinlabel_agreement::bootstrap::BootstrapOptions;
use clinlabel_agreement::cli::{CliOptions, run as compute};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct AgreementArgs {
    /// One reliability table (CSV or JSON: unit, coder, value), or two annotation
    /// files of one kind (spans, boxes, polygons, keypoints, speaker turns, transcripts).
    #[arg(required = true, num_args = 1..=2)]
    files: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Keep only this metric (full name or prefix, e.g. `krippendorff_alpha`).
    #[arg(long)]
    metric: Option<String>,
    /// Keep only this level for Krippendorff's α: nominal, ordinal, interval, ratio.
    #[arg(long)]
    level: Option<String>,
    /// Add seeded bootstrap confidence intervals with this many resamples.
    #[arg(long)]
    bootstrap: Option<usize>,
    /// Seed of the bootstrap (the same seed gives the same intervals).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: AgreementArgs) -> anyhow::Result<ExitCode> {
    let mut contents = Vec::new();
    for f in &args.files {
        let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        contents.push((f.display().to_string(), text));
    }
    let inputs: Vec<(&str, &str)> = contents.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let opts = CliOptions {
        json: args.json,
        metric: args.metric,
        level: args.level,
        bootstrap: args.bootstrap.map(|replicates| BootstrapOptions { replicates, seed: args.seed, ..Default::default() }),
    };
    let out = compute(&inputs, &opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    print!("{out}");
    if !out.ends_with('\n') {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
