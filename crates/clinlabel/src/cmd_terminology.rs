//! `clinlabel terminology …`: import licensed code systems into this
//! installation, list what it has, search and show concepts (JSON output).
//!
//! Imported releases are stored encrypted in `<data dir>/terminology/`
//! (see `clinlabel_terminology::installed`) under the installation's
//! `terminology` data key, which the database keeps wrapped by the master
//! key; the server loads them at start beside the bundled ICD-10-CM and
//! ICD-10-PCS.

use crate::config::Settings;
use anyhow::{Context, anyhow};
use clinlabel_crypto::Keyring;
use clinlabel_store::Db;
use clinlabel_terminology::{System, Terminology, import, installed};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct TerminologyArgs {
    #[command(subcommand)]
    cmd: TerminologyCmd,
}

#[derive(Debug, clap::Subcommand)]
enum TerminologyCmd {
    /// Import a release from its official files (a file or an unpacked folder) into this installation.
    Import {
        /// snomed, loinc, rxnorm, meddra, cpt, hcpcs, icd10cm or icd10pcs.
        #[arg(long)]
        system: String,
        /// The release file or folder.
        path: PathBuf,
        /// The release version, when the files do not say it (or to override it).
        #[arg(long)]
        version: Option<String>,
    },
    /// The systems this installation has, with versions (JSON).
    List,
    /// Type-ahead search in one system (JSON).
    Search {
        #[arg(long)]
        system: String,
        query: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One concept with its parents, children and ancestors (JSON).
    Show {
        #[arg(long)]
        system: String,
        code: String,
    },
    /// Remove an imported system (a bundled one comes back in its place).
    Remove {
        #[arg(long)]
        system: String,
    },
}

fn system(s: &str) -> anyhow::Result<System> {
    System::parse(s).ok_or_else(|| {
        anyhow!("--system: {s:?} is not one of {}", System::ALL.iter().map(|s| s.id()).collect::<Vec<_>>().join(", "))
    })
}

/// Whether the data dir holds imported releases.
fn has_installed(settings: &Settings) -> bool {
    System::ALL.iter().any(|s| installed::path(&settings.data_dir, *s).exists())
}

/// The bundled systems plus the imported ones (their data key fetched only when there are some).
pub async fn load(settings: &Settings, db: &Db, keyring: &Keyring) -> anyhow::Result<Terminology> {
    if !has_installed(settings) {
        return Ok(Terminology::bundled());
    }
    let key = clinlabel_store::keys::data_key(db, keyring, installed::KEY_SCOPE).await?;
    let dir = settings.data_dir.clone();
    tokio::task::spawn_blocking(move || Terminology::installed(&dir, &key))
        .await?
        .map_err(|e| anyhow!("terminology: {e} (remove it with `clinlabel terminology remove --system …` and import it again)"))
}

/// Builds every index in the background, logging each system's time.
pub fn preload(t: Arc<Terminology>) {
    std::thread::spawn(move || {
        for (s, r) in t.preload() {
            match r {
                Ok(d) => tracing::info!(system = %s, ms = d.as_millis() as u64, "terminology loaded"),
                Err(e) => tracing::error!(system = %s, error = %e, "terminology failed to load"),
            }
        }
    });
}

fn print(v: serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

pub async fn run(args: TerminologyArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    match args.cmd {
        TerminologyCmd::Import { system: s, path, version } => {
            let s = system(&s)?;
            settings.ensure_data_dir()?;
            let keyring = crate::open_keyring(settings)?;
            let db = crate::open_db(settings).await?;
            let p = path.clone();
            let imported = tokio::task::spawn_blocking(move || import::import(s, &p, version.as_deref()))
                .await?
                .map_err(|e| anyhow!("{}: {e}", s.name()))?;
            let release = imported.release;
            let key = clinlabel_store::keys::data_key(&db, &keyring, installed::KEY_SCOPE).await?;
            let dir = settings.data_dir.clone();
            let summary = json!({
                "system": s,
                "name": s.name(),
                "version": release.version,
                "source": release.source,
                "concepts": release.concepts.len(),
                "active": release.concepts.iter().filter(|c| c.active).count(),
                "with_parents": release.concepts.iter().filter(|c| !c.parents.is_empty()).count(),
                "dropped_parents": imported.dropped_parents,
            });
            let file = tokio::task::spawn_blocking(move || installed::save(&dir, &key, &release)).await??;
            let mut tx = db.begin_write().await?;
            clinlabel_store::audit::append(
                &mut tx,
                &clinlabel_store::audit::event(None, None, "terminology.import", "terminology", s.id(), summary.clone()),
            )
            .await?;
            tx.commit().await.context("recording the import in the audit trail")?;
            db.close().await;
            let mut out = summary;
            out["file"] = json!(file.display().to_string());
            print(out)?;
        }
        TerminologyCmd::List => {
            let t = open(settings).await?;
            print(serde_json::to_value(t.systems())?)?;
        }
        TerminologyCmd::Search { system: s, query, limit } => {
            let s = system(&s)?;
            let t = open(settings).await?;
            let cs = tokio::task::spawn_blocking(move || t.get(s)).await?.map_err(|e| anyhow!("{e}"))?;
            let hits = cs.search(&query, limit);
            print(json!({ "system": s, "version": cs.version(), "query": query, "results": hits }))?;
        }
        TerminologyCmd::Show { system: s, code } => {
            let s = system(&s)?;
            let t = open(settings).await?;
            let cs = tokio::task::spawn_blocking(move || t.get(s)).await?.map_err(|e| anyhow!("{e}"))?;
            let c = cs.lookup(&code).ok_or_else(|| anyhow!("{}: no code {code:?}", s.name()))?;
            let brief = |c: clinlabel_terminology::ConceptRef<'_>| json!({ "code": c.code(), "display": c.display() });
            print(json!({
                "system": s,
                "version": cs.version(),
                "concept": c.to_concept(),
                "parents": c.parents().map(brief).collect::<Vec<_>>(),
                "children": c.children().map(brief).collect::<Vec<_>>(),
                "ancestors": c.ancestors().into_iter().map(brief).collect::<Vec<_>>(),
            }))?;
        }
        TerminologyCmd::Remove { system: s } => {
            let s = system(&s)?;
            let removed = installed::remove(&settings.data_dir, s)?;
            if removed {
                let db = crate::open_db(settings).await?;
                let mut tx = db.begin_write().await?;
                clinlabel_store::audit::append(&mut tx, &clinlabel_store::audit::event(None, None, "terminology.remove", "terminology", s.id(), json!({})))
                    .await?;
                tx.commit().await?;
                db.close().await;
            }
            print(json!({ "system": s, "removed": removed }))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn open(settings: &Settings) -> anyhow::Result<Terminology> {
    if !has_installed(settings) {
        return Ok(Terminology::bundled());
    }
    let keyring = crate::open_keyring(settings)?;
    let db = crate::open_db(settings).await?;
    let t = load(settings, &db, &keyring).await;
    db.close().await;
    t
}

/// `clinlabel bench terminology`: load time and type-ahead latency of one system.
pub async fn bench(settings: &Settings, system_id: &str, concepts: usize, limit: usize, rounds: usize, as_json: bool) -> anyhow::Result<()> {
    use clinlabel_terminology::bench;
    let s = system(system_id)?;
    let t = Arc::new(open(settings).await?);
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<bench::Report> {
        // Each run builds the index from the stored release anew.
        let mut load_ms = Vec::new();
        let mut cs = None;
        for _ in 0..3 {
            let fresh = Terminology::from_stored_of(&t, s).map_err(|e| anyhow!("{e}"))?;
            let start = std::time::Instant::now();
            cs = Some(fresh.get(s).map_err(|e| anyhow!("{e}"))?);
            load_ms.push(start.elapsed().as_secs_f64() * 1e3);
        }
        let cs = cs.expect("three runs");
        let queries = bench::queries(&cs, concepts, 20261127);
        Ok(bench::run(&cs, load_ms, &queries, limit, rounds))
    })
    .await??;
    if as_json {
        return print(serde_json::to_value(&report)?);
    }
    println!("{} {} ({} concepts): load (inflate + index) {} ms", s.name(), report.version, report.concepts,
        report.load_ms.iter().map(|m| format!("{m:.0}")).collect::<Vec<_>>().join(" / "));
    println!(
        "type-ahead, limit {}, {} queries x {} rounds, one thread; wall clock, then (all cpu) the thread's CPU time without preemption:",
        report.limit,
        report.all.queries / rounds.max(1),
        rounds.max(1)
    );
    for (name, l) in [("all", &report.all), ("typing", &report.typing), ("typos", &report.typos), ("codes", &report.codes), ("all cpu", &report.cpu)] {
        println!(
            "  {name:<7} n={:<6} p50 {:>7.0} µs  p90 {:>7.0} µs  p99 {:>7.0} µs  max {:>7.0} µs  mean {:>6.0} µs  answered {:.1}%",
            l.queries, l.p50_us, l.p90_us, l.p99_us, l.max_us, l.mean_us, l.answered * 100.0
        );
    }
    Ok(())
}
