//! `clinlabel dicom deidentify|render`: the ingest crate's de-identification
//! and frame decoding from the shell, for scripts and tests.

use clinlabel_dicom::{DateOption, DeidOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DicomArgs {
    #[command(subcommand)]
    what: DicomCmd,
}

#[derive(Debug, clap::Subcommand)]
enum DicomCmd {
    /// De-identify a file with the PS3.15 Annex E Basic Profile; prints the report as JSON.
    Deidentify {
        input: PathBuf,
        output: PathBuf,
        /// The project secret that keys the UID mapping (same secret + same UID → same new UID).
        #[arg(long, env = "CLINLABEL_DEID_SECRET")]
        secret: String,
        /// remove (Basic Profile), keep, or shift:<days>.
        #[arg(long, default_value = "remove")]
        dates: String,
    },
    /// Decode one frame: writes <out>.raw (stored values, little-endian) and <out>.png (8-bit at the window); prints the metadata as JSON.
    Render {
        file: PathBuf,
        #[arg(long, default_value_t = 0)]
        frame: usize,
        /// Window centre,width (default: the file's first preset, else the full range).
        #[arg(long, value_parser = parse_window)]
        window: Option<(f64, f64)>,
        /// Output path prefix.
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_window(s: &str) -> Result<(f64, f64), String> {
    let (c, w) = s.split_once(',').ok_or("use CENTRE,WIDTH, e.g. 40,400")?;
    let c: f64 = c.trim().parse().map_err(|_| format!("centre {c:?} is not a number"))?;
    let w: f64 = w.trim().parse().map_err(|_| format!("width {w:?} is not a number"))?;
    if w <= 0.0 {
        return Err("the width must be positive".into());
    }
    Ok((c, w))
}

fn parse_dates(s: &str) -> anyhow::Result<DateOption> {
    Ok(match s {
        "remove" => DateOption::Remove,
        "keep" => DateOption::Keep,
        other => match other.strip_prefix("shift:").map(str::parse::<i32>) {
            Some(Ok(days)) => DateOption::Shift { days },
            _ => anyhow::bail!("--dates: {other:?} is not remove, keep or shift:<days>"),
        },
    })
}

pub fn run(args: DicomArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        DicomCmd::Deidentify { input, output, secret, dates } => {
            let opts = DeidOptions::new(secret.as_bytes(), parse_dates(&dates)?);
            let report = clinlabel_dicom::deidentify_file(&input, &output, &opts).map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        DicomCmd::Render { file, frame, window, out } => {
            let r = clinlabel_dicom::render_frame(&file, frame, window).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let raw = out.with_extension("raw");
            let png = out.with_extension("png");
            std::fs::write(&raw, &r.raw_le).map_err(|e| anyhow::anyhow!("{}: {e}", raw.display()))?;
            std::fs::write(&png, &r.png).map_err(|e| anyhow::anyhow!("{}: {e}", png.display()))?;
            println!("{}", serde_json::to_string_pretty(&r.meta)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
