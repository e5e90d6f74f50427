//! `clinlabel delivery verify <folder or zip>`: checks a downloaded delivery
//! against its manifest and signatures, offline (see `clinlabel-delivery`).
//! Exit 0 when everything holds; exit 1 naming each file that does not.

use clinlabel_delivery::PublicKey;
use clinlabel_delivery::verify::{Source, ZipSource, verify};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DeliveryArgs {
    #[command(subcommand)]
    what: DeliveryCmd,
}

#[derive(Debug, clap::Subcommand)]
enum DeliveryCmd {
    /// Check every file of a delivery (folder or .zip) against the signed manifest and the QA certification.
    Verify {
        /// The delivery: the unpacked folder or the downloaded zip.
        path: PathBuf,
        /// The service's public key to trust: a PEM file, or the JSON of
        /// /.well-known/clinlabel-delivery-key. Without it, the key named in
        /// the manifest is used and its id printed, to compare with the service's.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A delivery unpacked in a folder (a folder holding exactly one
/// sub-folder with the manifest, as unzipping gives, works too).
struct Folder {
    root: PathBuf,
}

impl Folder {
    fn new(path: &Path) -> Folder {
        let manifest = clinlabel_delivery::manifest::MANIFEST;
        if !path.join(manifest).exists()
            && let Ok(entries) = std::fs::read_dir(path)
        {
            let dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            if dirs.len() == 1 && dirs[0].join(manifest).exists() {
                return Folder { root: dirs[0].clone() };
            }
        }
        Folder { root: path.to_path_buf() }
    }

    fn walk(&self, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                self.walk(&e.path(), out)?;
            } else {
                let rel = e.path().strip_prefix(&self.root).map_err(std::io::Error::other)?.to_path_buf();
                out.push(rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/"));
            }
        }
        Ok(())
    }
}

impl Source for Folder {
    fn paths(&mut self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        self.walk(&self.root.clone(), &mut out)?;
        out.sort();
        Ok(out)
    }
    fn open(&mut self, path: &str) -> std::io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(std::io::BufReader::new(std::fs::File::open(self.root.join(path))?)))
    }
}

fn read_key(path: &Path) -> anyhow::Result<PublicKey> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("--key {}: {e}", path.display()))?;
    if text.trim_start().starts_with('{') {
        let k: PublicKey = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| serde_json::from_value(serde_json::json!({ "algorithm": v["algorithm"], "public_key": v["public_key"], "key_id": v["key_id"] })).ok())
            .ok_or_else(|| anyhow::anyhow!("--key {}: not the JSON of /.well-known/clinlabel-delivery-key", path.display()))?;
        k.raw().map_err(|e| anyhow::anyhow!("--key {}: {e}", path.display()))?;
        Ok(k)
    } else {
        PublicKey::from_pem(&text).map_err(|e| anyhow::anyhow!("--key {}: {e}", path.display()))
    }
}

pub fn run(args: DeliveryArgs) -> anyhow::Result<ExitCode> {
    let DeliveryCmd::Verify { path, key, json } = args.what;
    let trusted = key.as_deref().map(read_key).transpose()?;
    let meta = std::fs::metadata(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let result = if meta.is_dir() {
        verify(&mut Folder::new(&path), trusted.as_ref())
    } else {
        let f = std::fs::File::open(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut z = ZipSource::new(std::io::BufReader::new(f)).map_err(|e| anyhow::anyhow!("{}: not a zip archive: {e}", path.display()))?;
        verify(&mut z, trusted.as_ref())
    }
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else if result.ok {
        println!(
            "OK: {} version {} — {} files match the manifest (SHA-256 {}), signed by key {}{}, certified by {}",
            result.project_name.as_deref().unwrap_or("?"),
            result.version.unwrap_or(0),
            result.files_checked,
            result.manifest_sha256.as_deref().unwrap_or("?"),
            result.key_id.as_deref().unwrap_or("?"),
            if trusted.is_some() { " (the trusted key)" } else { " (from the manifest: compare it with the service's /.well-known/clinlabel-delivery-key)" },
            result.certified_by.as_deref().unwrap_or("?")
        );
    } else {
        eprintln!("FAILED: {} problem(s) in {}", result.problems.len(), path.display());
        for p in &result.problems {
            eprintln!("  {p}");
        }
    }
    Ok(if result.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `clinlabel bench delivery`: seeds a project with `annotations` accepted
/// annotations (two per item) and builds its delivery through the real
/// builder into a temporary local blob store; prints the build time, the
/// peak RSS of the build (the high-water mark is reset after seeding) and
/// the sizes written.
pub async fn bench(annotations: i64, db: Option<String>) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let url = db.unwrap_or_else(|| format!("sqlite://{}/bench.db", tmp.path().display()));
    let db = clinlabel_store::Db::connect(&url).await?;
    let keyring = clinlabel_crypto::Keyring::new(clinlabel_crypto::MasterKey::generate());
    let blobs = clinlabel_blob::BlobStore::local(&tmp.path().join("blobs"))?;
    let t = std::time::Instant::now();
    let (project, pm) = clinlabel_store::deliveries::seed_bench(&db, &keyring, annotations / 2, 2).await?;
    println!("seeded {} items with {annotations} accepted annotations on {:?} in {:.1} s", annotations / 2, db.backend(), t.elapsed().as_secs_f64());
    let baseline = clinlabel_blob::bench::peak_rss_bytes();
    // Reset the peak-RSS high-water mark (Linux), so the figure is the build's.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let t = std::time::Instant::now();
    let d = clinlabel_server::delivery::build(&db, &blobs, &keyring, &pm, &project).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let secs = t.elapsed().as_secs_f64();
    let peak = clinlabel_blob::bench::peak_rss_bytes();
    let mib = |b: Option<u64>| b.map(|b| format!("{:.1} MiB", b as f64 / (1 << 20) as f64)).unwrap_or_else(|| "unknown".into());
    println!(
        "delivery v{} of {} items / {} annotations built in {:.1} s ({:.0} annotations/s); peak RSS during the build {}{} (after seeding: {})",
        d.version,
        d.items,
        d.annotations,
        secs,
        d.annotations as f64 / secs,
        mib(peak),
        if reset { "" } else { " (high-water mark not reset: includes seeding)" },
        mib(baseline)
    );
    for f in &d.files {
        println!("  {:<28} {:>12} bytes", f.path, f.size);
    }
    Ok(())
}
