//! `clinlabel bench …`: figures for this machine, printed (benchmarks, not tests).

use crate::config::Settings;
use clinlabel_blob::{BlobStore, bench};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(Debug, clap::Subcommand)]
enum BenchWhat {
    /// AES-256-GCM chunked encryption on one core, beside `openssl speed -evp aes-256-gcm`.
    Crypto {
        /// Bytes to encrypt per measurement.
        #[arg(long, default_value_t = 1 << 30)]
        bytes: usize,
    },
    /// Next-task latency and assignments per second with many concurrent taskers.
    Routing {
        /// Queued annotate tasks to seed.
        #[arg(long, default_value_t = 1_000_000)]
        tasks: i64,
        /// Concurrent simulated taskers.
        #[arg(long, default_value_t = 200)]
        taskers: usize,
        /// Assignments to make before stopping.
        #[arg(long, default_value_t = 20_000)]
        assignments: usize,
        /// The offered load of the second run, in assignments per second over
        /// all taskers (the first run is at full pressure).
        #[arg(long, default_value_t = 2000.0)]
        rate: f64,
        /// An EMPTY database to use (e.g. a fresh PostgreSQL database); default: a temporary SQLite file.
        #[arg(long)]
        db: Option<String>,
    },
    /// Upload throughput through the resumable protocol (encrypted, local storage) beside a raw disk write; many small files.
    Upload {
        /// Size of the large upload in bytes [default: 1 GiB].
        #[arg(long, default_value_t = 1 << 30)]
        size: u64,
        /// Chunk size in bytes.
        #[arg(long, default_value_t = 8 << 20)]
        chunk: u64,
        /// Number of small files.
        #[arg(long, default_value_t = 10_000)]
        files: usize,
        /// Directory to write in [default: a temporary directory].
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Decode + window/level to 8-bit of one 512×512 CT frame (p50/p99) beside pydicom + numpy on the same file.
    Dicom {
        /// DICOM file [default: pydicom-data's 693_UNCI.dcm, found through the pydicom virtualenv].
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        #[arg(long, default_value_t = 500)]
        iterations: usize,
        /// Python with pydicom and numpy [default: ci/testdata/dicom.sh's virtualenv].
        #[arg(long)]
        python: Option<std::path::PathBuf>,
    },
    /// A DICOM series of SIZE bytes (512×512 CT slices, one upload each) de-identified into one series item: time and peak memory.
    DicomIngest {
        /// Bytes of DICOM to upload [default: 2 GiB].
        #[arg(long, default_value_t = 2 << 30)]
        size: u64,
        /// Directory to write in [default: a temporary directory].
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Build a delivery of a project with N accepted annotations (seeded in the store): build time and peak memory.
    Delivery {
        /// Accepted annotations (two per item).
        #[arg(long, default_value_t = 1_000_000)]
        annotations: i64,
        /// An EMPTY database to use; default: a temporary SQLite file.
        #[arg(long)]
        db: Option<String>,
    },
    /// Stream a generated blob through the configured storage and back; report time and peak memory.
    Blob {
        /// Blob size in bytes [default: 1 GiB].
        #[arg(long, default_value_t = 1 << 30)]
        size: u64,
        /// Storage URL to use instead of a temporary local directory.
        #[arg(long)]
        storage_url: Option<String>,
    },
    /// Clinical text: assertion precision/recall per class beside medspaCy 1.3.1, pre-annotation MB/s.
    Text(crate::cmd_text::BenchTextArgs),
    /// Terminology: load time and type-ahead latency (p50/p99) over typed prefixes, typos and codes.
    Terminology {
        /// The system (bundled, or imported into this installation).
        #[arg(long, default_value = "icd10cm")]
        system: String,
        /// Concepts drawn per query kind (each typed keystroke by keystroke).
        #[arg(long, default_value_t = 400)]
        concepts: usize,
        /// Results per query.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Timed passes over the query set.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: BenchArgs, _settings: &Settings) -> anyhow::Result<ExitCode> {
    match args.what {
        BenchWhat::Crypto { bytes } => {
            let r = tokio::task::spawn_blocking(move || bench::crypto_report(bytes)).await?;
            println!("clinlabel AES-256-GCM (ring, 1 MiB chunks, one core): encrypt {:.2} GB/s, decrypt {:.2} GB/s", r.encrypt_gbps, r.decrypt_gbps);
            println!("SHA-256: {:.2} GB/s; encrypt + hash (what an upload does): {:.2} GB/s", r.sha256_gbps, r.encrypt_and_hash_gbps);
            match tokio::task::spawn_blocking(|| bench::openssl_aes_gcm_gbps(3)).await? {
                Some(o) => println!("openssl speed -evp aes-256-gcm (16 KiB blocks, one core): {o:.2} GB/s; ratio clinlabel/openssl = {:.2}", r.encrypt_gbps / o),
                None => println!("openssl not found or its output not understood: no comparison"),
            }
        }
        BenchWhat::Routing { tasks, taskers, assignments, rate, db } => {
            let tmp = tempfile::tempdir()?;
            let url = db.unwrap_or_else(|| format!("sqlite://{}/bench.db", tmp.path().display()));
            let db = clinlabel_store::Db::connect(&url).await?;
            let keyring = clinlabel_crypto::Keyring::new(clinlabel_crypto::MasterKey::generate());
            let world = clinlabel_store::bench::seed_routing(&db, &keyring, tasks, taskers).await?;
            println!("seeded {tasks} queued tasks and {taskers} certified taskers on {:?} in {:.1} s", db.backend(), world.seed_secs);
            use clinlabel_store::bench::Pace;
            for (pace, label) in [(Pace::Closed, "full pressure".to_string()), (Pace::Rate(rate), format!("offered {rate:.0}/s"))] {
                let r = clinlabel_store::bench::run_routing(&db, &keyring, &world, assignments, std::time::Duration::from_secs(120), pace).await?;
                println!(
                    "{label}: {} assignments (each with its submit) in {:.2} s = {:.0} assignments/s; next-task latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                    r.assignments,
                    r.secs,
                    r.assignments as f64 / r.secs,
                    r.percentile(50.0),
                    r.percentile(99.0),
                    r.latencies_ms.last().copied().unwrap_or(f64::NAN)
                );
            }
        }
        BenchWhat::Upload { size, chunk, files, dir } => {
            let tmp = tempfile::tempdir()?;
            let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
            let mib = |b: Option<u64>| b.map(|b| format!("{:.1} MiB", b as f64 / (1 << 20) as f64)).unwrap_or_else(|| "unknown".into());
            let r = clinlabel_ingest::bench::upload(&dir, size, chunk).await.map_err(|e| anyhow::anyhow!(e))?;
            println!(
                "upload of {:.0} MiB in {} MiB chunks: {:.0} MB/s encrypted through the protocol (raw disk write + fsync: {:.0} MB/s, ratio {:.2}); processing {:.2} s; peak RSS {}",
                r.bytes as f64 / (1 << 20) as f64,
                r.chunk >> 20,
                r.mb_per_s,
                r.raw_disk_mb_per_s,
                r.mb_per_s / r.raw_disk_mb_per_s,
                r.process_seconds,
                mib(r.peak_rss_bytes)
            );
            let s = clinlabel_ingest::bench::small_files(&dir, files, 2048).await.map_err(|e| anyhow::anyhow!(e))?;
            println!("{} small files of {} bytes: {:.1} s, {:.0} files/s, peak RSS {}", s.files, s.bytes_each, s.seconds, s.files_per_s, mib(s.peak_rss_bytes));
        }
        BenchWhat::Dicom { file, iterations, python } => {
            let python = python.unwrap_or_else(clinlabel_dicom::bench::default_python);
            let r = tokio::task::spawn_blocking(move || clinlabel_dicom::bench::run(file.as_deref(), iterations, &python, None)).await?;
            println!("{}", r.map_err(|e| anyhow::anyhow!(e))?);
        }
        BenchWhat::DicomIngest { size, dir } => {
            let tmp = tempfile::tempdir()?;
            let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
            let r = clinlabel_ingest::bench::dicom_series(&dir, size).await.map_err(|e| anyhow::anyhow!(e))?;
            println!(
                "DICOM series of {} slices ({:.0} MiB): {:.1} s, {:.0} MB/s through upload + de-identification + series grouping; {} item(s); peak RSS {}",
                r.instances,
                r.bytes as f64 / (1 << 20) as f64,
                r.seconds,
                r.mb_per_s,
                r.items,
                r.peak_rss_bytes.map(|b| format!("{:.1} MiB", b as f64 / (1 << 20) as f64)).unwrap_or_else(|| "unknown".into())
            );
        }
        BenchWhat::Delivery { annotations, db } => crate::cmd_delivery::bench(annotations, db).await?,
        BenchWhat::Blob { size, storage_url } => {
            let tmp = tempfile::tempdir()?;
            let store = match storage_url {
                Some(url) => BlobStore::from_url(&url)?,
                None => BlobStore::local(tmp.path())?,
            };
            let r = bench::stream_roundtrip(&store, size).await?;
            let mib = r.bytes as f64 / (1 << 20) as f64;
            println!(
                "{} ({:.0} MiB): encrypt+store {:.2} s ({:.0} MiB/s), read+decrypt {:.2} s ({:.0} MiB/s), peak RSS {}",
                store.url(),
                mib,
                r.encrypt_secs,
                mib / r.encrypt_secs,
                r.decrypt_secs,
                mib / r.decrypt_secs,
                r.peak_rss_bytes.map(|b| format!("{:.1} MiB", b as f64 / (1 << 20) as f64)).unwrap_or_else(|| "unknown".into())
            );
        }
        BenchWhat::Text(a) => return tokio::task::spawn_blocking(move || crate::cmd_text::bench(a)).await?,
        BenchWhat::Terminology { system, concepts, limit, rounds, json } => crate::cmd_terminology::bench(_settings, &system, concepts, limit, rounds, json).await?,
    }
    Ok(ExitCode::SUCCESS)
}
