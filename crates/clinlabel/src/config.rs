//! Configuration: flags, `CLINLABEL_*` environment variables and an optional
//! TOML file, in that order of precedence (file < env < flag), then defaults.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Settings every subcommand shares. Each is optional here; [`Settings::resolve`] fills defaults.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalArgs {
    /// A TOML file with any of the settings below (keys in snake_case).
    #[arg(long, env = "CLINLABEL_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Where SQLite, encrypted files and the master key live [default: ./clinlabel-data].
    #[arg(long, env = "CLINLABEL_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER:PASSWORD@HOST/DB [default: sqlite://<data-dir>/clinlabel.db].
    #[arg(long, env = "CLINLABEL_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// file:///ABS/DIR or s3://BUCKET/PREFIX (endpoint, region and credentials from AWS_* variables) [default: file://<data-dir>/blobs].
    #[arg(long, env = "CLINLABEL_STORAGE_URL", global = true)]
    pub storage_url: Option<String>,
    /// Address to serve on [default: 127.0.0.1:8080].
    #[arg(long, env = "CLINLABEL_BIND", global = true)]
    pub bind: Option<String>,
    /// The master key file [default: <data-dir>/master.key]; CLINLABEL_MASTER_KEY (hex or base64) overrides it.
    #[arg(long, env = "CLINLABEL_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// Log format: plain or json [default: plain].
    #[arg(long, env = "CLINLABEL_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Mark session cookies Secure (when served behind TLS).
    #[arg(long, env = "CLINLABEL_SECURE_COOKIES", global = true)]
    pub secure_cookies: Option<bool>,
}

/// The TOML file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    storage_url: Option<String>,
    bind: Option<String>,
    master_key_file: Option<PathBuf>,
    log_format: Option<String>,
    secure_cookies: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Plain,
    Json,
}

/// Resolved settings.
#[derive(Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub storage_url: String,
    pub bind: SocketAddr,
    pub master_key_file: PathBuf,
    pub log_format: LogFormat,
    pub secure_cookies: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("database_url", &clinlabel_store::db::redact_url(&self.database_url))
            .field("storage_url", &self.storage_url)
            .field("bind", &self.bind)
            .finish_non_exhaustive()
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) })
}

impl Settings {
    pub fn resolve(args: &GlobalArgs) -> anyhow::Result<Settings> {
        let file: FileConfig = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("--config: cannot read {}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("--config: {}: {}", path.display(), e.message()))?
            }
            None => FileConfig::default(),
        };
        let data_dir = absolute(&args.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("clinlabel-data")))?;
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("clinlabel.db").display()));
        let storage_url = args.storage_url.clone().or(file.storage_url).unwrap_or_else(|| format!("file://{}", data_dir.join("blobs").display()));
        let bind_text = args.bind.clone().or(file.bind).unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind = bind_text.parse().map_err(|_| anyhow::anyhow!("--bind: {bind_text:?} is not an address like 127.0.0.1:8080"))?;
        let master_key_file = match args.master_key_file.clone().or(file.master_key_file) {
            Some(p) => absolute(&p)?,
            None => data_dir.join("master.key"),
        };
        let log_format = match args.log_format.clone().or(file.log_format).as_deref() {
            None | Some("plain") => LogFormat::Plain,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("--log-format: {other:?} is not plain or json"),
        };
        let secure_cookies = args.secure_cookies.or(file.secure_cookies).unwrap_or(false);
        Ok(Settings { data_dir, database_url, storage_url, bind, master_key_file, log_format, secure_cookies })
    }

    /// Creates the data dir and proves it is writable.
    pub fn ensure_data_dir(&self) -> anyhow::Result<()> {
        let d = &self.data_dir;
        std::fs::create_dir_all(d).map_err(|e| anyhow::anyhow!("--data-dir: cannot create {}: {e}", d.display()))?;
        let probe = d.join(".write-probe");
        std::fs::write(&probe, b"ok").map_err(|e| anyhow::anyhow!("--data-dir: {} is not writable: {e}", d.display()))?;
        let _ = std::fs::remove_file(probe);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "bind = \"127.0.0.1:9999\"\ndatabase_url = \"sqlite:///from-file.db\"\n").unwrap();
        let args = GlobalArgs { config: Some(cfg.clone()), bind: Some("127.0.0.1:7000".into()), data_dir: Some(dir.path().into()), ..Default::default() };
        let s = Settings::resolve(&args).unwrap();
        assert_eq!(s.bind.port(), 7000);
        assert_eq!(s.database_url, "sqlite:///from-file.db");
        assert_eq!(s.storage_url, format!("file://{}/blobs", dir.path().display()));
        assert_eq!(s.master_key_file, dir.path().join("master.key"));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = Settings::resolve(&GlobalArgs { bind: Some("nowhere".into()), ..Default::default() }).unwrap_err();
        assert!(e.to_string().starts_with("--bind:"), "{e}");
        let e = Settings::resolve(&GlobalArgs { log_format: Some("xml".into()), ..Default::default() }).unwrap_err();
        assert!(e.to_string().starts_with("--log-format:"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "colour = \"blue\"\n").unwrap();
        let e = Settings::resolve(&GlobalArgs { config: Some(cfg), ..Default::default() }).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
