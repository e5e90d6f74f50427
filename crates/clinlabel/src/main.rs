//! The `clinlabel` binary: the server and its command-line tools.
//!
//! `clinlabel` (or `clinlabel serve`) serves the web app and API. With no
//! configuration it keeps everything under `./clinlabel-data`: SQLite, the
//! encrypted blobs and the master key. Start-up problems stop it with one line
//! naming the setting at fault.

mod cmd_agreement;
mod cmd_bench;
mod cmd_delivery;
mod cmd_dicom;
mod cmd_terminology;
mod cmd_text;
mod config;
mod demo;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use clinlabel_blob::BlobStore;
use clinlabel_blob::keyfile;
use clinlabel_crypto::Keyring;
use clinlabel_domain::{Role, Secret};
use clinlabel_store::Db;
use config::{GlobalArgs, LogFormat, Settings};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "clinlabel", version, about = "The clinical data-annotation platform")]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the web app and API (the default).
    Serve {
        /// On an empty database, create a demo workspace: one account per role
        /// (passwords printed once), a demo client organisation, certified taskers.
        #[arg(long)]
        demo: bool,
    },
    /// Print the OpenAPI document of the API.
    Openapi,
    /// Administration from the shell.
    #[command(subcommand)]
    Admin(AdminCmd),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Benchmarks (not tests): throughput and memory figures for this machine.
    Bench(cmd_bench::BenchArgs),
    /// Inter-annotator agreement of a table or of two annotation files.
    Agreement(cmd_agreement::AgreementArgs),
    /// DICOM de-identification and frame rendering.
    Dicom(cmd_dicom::DicomArgs),
    /// Code systems: import licensed releases, list, search, show concepts.
    Terminology(cmd_terminology::TerminologyArgs),
    /// Clinical text: pre-annotation (dictionary + ConText), exports, imports.
    Text(cmd_text::TextArgs),
    /// Certified deliveries: verify a downloaded delivery offline.
    Delivery(cmd_delivery::DeliveryArgs),
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Create an account; prints a generated password once (or reads one from stdin).
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, pm, qa_reviewer, tasker, client_admin or client_member.
        #[arg(long, default_value = "admin")]
        role: String,
        /// The organisation id (default: the service provider's, created if missing).
        #[arg(long)]
        org: Option<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Generate a new master key and rewrap every data key with it.
    RotateMasterKey,
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Walk the hash chain; exit 1 naming the first edited, deleted or reordered event.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::resolve(&cli.global) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    init_logging(settings.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(anyhow!("cannot start the runtime: {e}")),
    };
    let result = rt.block_on(async move {
        match cli.cmd.unwrap_or(Cmd::Serve { demo: false }) {
            Cmd::Serve { demo } => serve(settings, demo).await,
            Cmd::Openapi => {
                println!("{}", serde_json::to_string_pretty(&clinlabel_server::openapi())?);
                Ok(ExitCode::SUCCESS)
            }
            Cmd::Admin(AdminCmd::CreateUser { email, name, role, org, password_stdin }) => {
                create_user(settings, email, name, role, org, password_stdin).await
            }
            Cmd::Admin(AdminCmd::RotateMasterKey) => rotate_master_key(settings).await,
            Cmd::Audit(AuditCmd::Verify) => audit_verify(settings).await,
            Cmd::Bench(args) => cmd_bench::run(args, &settings).await,
            Cmd::Agreement(args) => cmd_agreement::run(args),
            Cmd::Dicom(args) => cmd_dicom::run(args),
            Cmd::Terminology(args) => cmd_terminology::run(args, &settings).await,
            Cmd::Text(args) => cmd_text::run(args),
            Cmd::Delivery(args) => cmd_delivery::run(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

/// One clear line on stderr, exit status 2.
fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("clinlabel: {e:#}");
    ExitCode::from(2)
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CLINLABEL_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn open_db(settings: &Settings) -> anyhow::Result<Db> {
    Db::connect(&settings.database_url)
        .await
        .map_err(|e| anyhow!("--database-url: cannot use {}: {e}", clinlabel_store::db::redact_url(&settings.database_url)))
}

fn open_keyring(settings: &Settings) -> anyhow::Result<Keyring> {
    let (key, _source) =
        keyfile::from_env_or_file(&settings.master_key_file).map_err(|e| anyhow!("--master-key-file: {e}"))?;
    let mut ring = Keyring::new(key);
    // A rotation interrupted after staging the new key: keep both readable.
    let next = keyfile::next_path(&settings.master_key_file);
    if next.exists() {
        ring.add(keyfile::load(&next).map_err(|e| anyhow!("--master-key-file: {e}"))?);
    }
    Ok(ring)
}

async fn serve(settings: Settings, demo: bool) -> anyhow::Result<ExitCode> {
    settings.ensure_data_dir()?;
    let keyring = open_keyring(&settings)?;
    let db = open_db(&settings).await?;
    let blobs = BlobStore::from_url(&settings.storage_url).map_err(|e| anyhow!("--storage-url: {e}"))?;
    let listener = tokio::net::TcpListener::bind(settings.bind).await.map_err(|e| anyhow!("--bind: cannot listen on {}: {e}", settings.bind))?;
    let addr = listener.local_addr()?;
    clinlabel_store::tracks::ensure_defaults(&db).await?;
    if demo {
        match demo::create(&db).await? {
            Some(users) => {
                println!("clinlabel: demo workspace created. Sign in with (passwords shown this once):");
                for u in users {
                    println!("demo user: {} {} {}", u.role, u.email, u.password);
                }
            }
            None => println!("clinlabel: --demo: accounts exist already; the demo passwords were printed on the first start"),
        }
    }
    if let Some(token) = clinlabel_store::auth::issue_setup_token(&db).await? {
        // The token travels in the fragment, which browsers never send to servers or proxies.
        println!("clinlabel: no accounts yet. Create the first administrator within 24 hours at:");
        println!("  http://{addr}/setup#token={}", token.expose());
    }
    let terminology = Arc::new(cmd_terminology::load(&settings, &db, &keyring).await?);
    cmd_terminology::preload(terminology.clone());
    let state = clinlabel_server::AppState {
        db: db.clone(),
        blobs,
        keyring: Arc::new(keyring),
        config: Arc::new(clinlabel_server::ServerConfig { secure_cookies: settings.secure_cookies, ..Default::default() }),
        metrics: Default::default(),
        terminology,
    };
    println!("clinlabel: serving on http://{addr}");
    tracing::info!(%addr, database = ?db.backend(), storage = %settings.storage_url, "serving");
    clinlabel_server::serve(listener, state).await.context("server")?;
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn create_user(settings: Settings, email: String, name: String, role: String, org: Option<String>, password_stdin: bool) -> anyhow::Result<ExitCode> {
    settings.ensure_data_dir()?;
    let role = Role::parse(&role).ok_or_else(|| anyhow!("--role: {role:?} is not one of admin, pm, qa_reviewer, tasker, client_admin, client_member"))?;
    let db = open_db(&settings).await?;
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        (line.trim_end_matches(['\r', '\n']).to_string(), false)
    } else {
        (clinlabel_store::db::new_token(), true)
    };
    let user = clinlabel_store::auth::create_user_system(&db, org.as_deref(), &email, &name, role, Secret::new(password.clone()))
        .await
        .map_err(|e| anyhow!("{e}"))?;
    println!("created {} ({}) with id {}", user.email, user.role, user.id);
    if generated {
        println!("password (shown once): {password}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate_master_key(settings: Settings) -> anyhow::Result<ExitCode> {
    if std::env::var_os(keyfile::ENV_VAR).is_some() {
        anyhow::bail!("--master-key-file: the master key comes from {}; rotate it where that variable is set", keyfile::ENV_VAR);
    }
    let path = &settings.master_key_file;
    let mut ring = open_keyring(&settings)?;
    let db = open_db(&settings).await?;
    // Stage the new key durably first, then rewrap, then make it current
    // (see clinlabel_blob::keyfile): a crash anywhere leaves every key readable.
    let next = keyfile::next_path(path);
    let new = if next.exists() {
        keyfile::load(&next).map_err(|e| anyhow!("--master-key-file: {e}"))?
    } else {
        let k = clinlabel_crypto::MasterKey::generate();
        keyfile::write_atomic(&next, &k).map_err(|e| anyhow!("--master-key-file: {e}"))?;
        k
    };
    ring.add(new.clone());
    let n = clinlabel_store::keys::rewrap_all(&db, &ring, &new).await?;
    keyfile::write_atomic(path, &new).map_err(|e| anyhow!("--master-key-file: {e}"))?;
    std::fs::remove_file(&next).with_context(|| format!("removing {}", next.display()))?;
    println!("master key rotated to {}: {n} data keys rewrapped", new.id());
    Ok(ExitCode::SUCCESS)
}

async fn audit_verify(settings: Settings) -> anyhow::Result<ExitCode> {
    let db = open_db(&settings).await?;
    let report = clinlabel_store::audit::verify(&db).await?;
    println!("{}", report.message);
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
