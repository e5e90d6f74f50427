//! The master key on disk or in the environment.
//!
//! A key file holds the 32-byte key as 64 hex digits and a newline (base64
//! is accepted when reading). It must be a regular file with no group or
//! other permissions (mode 0600 or stricter); anything else is refused.
//!
//! The environment variable [`ENV_VAR`] (`CLINLABEL_MASTER_KEY`), in hex or
//! base64, takes precedence over the file when set.
//!
//! ## Rotating the master key safely
//!
//! 1. `let mut ring = load_keyring(path)?;` and `let new = MasterKey::generate();`
//! 2. `write_atomic(&next_path(path), &new)?` — the new key is durable before
//!    anything depends on it.
//! 3. `ring.set_current(new)`, then in one database transaction replace every
//!    wrapped data key with `ring.rewrap(..)`; commit.
//! 4. `write_atomic(path, &new)?`, then remove `next_path(path)`.
//!
//! A crash at any point leaves every wrapped key readable: [`load_keyring`]
//! loads the key in `path` and, if present, the one in `<path>.next`, and
//! unwrapping picks the key by the id stored in the wrapped key. Re-running
//! the rotation finishes the job.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use clinlabel_crypto::{KEY_LEN, Keyring, MasterKey, to_hex};

/// Environment variable that supplies the master key (hex or base64).
pub const ENV_VAR: &str = "CLINLABEL_MASTER_KEY";

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("master key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "master key file {path} has mode {mode:04o}: it must not be accessible by group or \
         others (run `chmod 600 {path}`)"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("master key file {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("master key from {source_name} is malformed: {reason}")]
    Malformed { source_name: String, reason: String },
}

/// Where a master key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
    Created(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Parses a key written as 64 hex digits or as base64 of 32 bytes
/// (surrounding whitespace ignored). Errors never echo the text.
pub fn parse_key_text(text: &str, source_name: &str) -> Result<MasterKey, KeyFileError> {
    let t = text.trim();
    let malformed = |reason: String| KeyFileError::Malformed {
        source_name: source_name.to_owned(),
        reason,
    };
    let bytes: Vec<u8> = if t.len() == 2 * KEY_LEN && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..KEY_LEN)
            .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).expect("hex digits"))
            .collect()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(t))
            .map_err(|_| {
                malformed(format!(
                    "expected {} hex digits or base64 of {KEY_LEN} bytes ({} characters found)",
                    2 * KEY_LEN,
                    t.len()
                ))
            })?
    };
    let arr: [u8; KEY_LEN] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| malformed(format!("expected {KEY_LEN} bytes, got {}", b.len())))?;
    Ok(MasterKey::from_bytes(arr))
}

#[cfg(unix)]
fn check_file(path: &Path, meta: &fs::Metadata) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    if !meta.is_file() {
        return Err(KeyFileError::NotAFile {
            path: path.to_owned(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_file(path: &Path, meta: &fs::Metadata) -> Result<(), KeyFileError> {
    if !meta.is_file() {
        return Err(KeyFileError::NotAFile {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Reads an existing key file, checking its permissions and length.
pub fn load(path: &Path) -> Result<MasterKey, KeyFileError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let meta = file.metadata().map_err(io_err(path))?;
    check_file(path, &meta)?;
    if meta.len() > 1024 {
        return Err(KeyFileError::Malformed {
            source_name: path.display().to_string(),
            reason: format!("file is {} bytes; a key file is 65", meta.len()),
        });
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).map_err(|_| KeyFileError::Malformed {
        source_name: path.display().to_string(),
        reason: "not text".into(),
    })?;
    parse_key_text(&text, &path.display().to_string())
}

fn open_private(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn tmp_path(path: &Path) -> PathBuf {
    let nonce = to_hex(&clinlabel_crypto::DataKey::generate().to_bytes()[..6]);
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp-{}-{nonce}", std::process::id()));
    path.with_file_name(name)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)?.sync_all()?;
    }
    let _ = path;
    Ok(())
}

/// Writes `key` to a new private temporary file beside `path` and fsyncs it.
fn write_tmp(path: &Path, key: &MasterKey) -> Result<PathBuf, KeyFileError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let tmp = tmp_path(path);
    let write = || -> std::io::Result<()> {
        let mut f = open_private(&tmp)?;
        f.write_all(format!("{}\n", to_hex(&key.to_bytes())).as_bytes())?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(KeyFileError::Io {
            path: tmp,
            source: e,
        });
    }
    Ok(tmp)
}

/// Loads the key at `path`, or generates one and creates the file (mode
/// 0600, complete before it appears, fsynced) if there is none. Safe when
/// several processes start at once: exactly one key wins.
pub fn load_or_create(path: &Path) -> Result<MasterKey, KeyFileError> {
    load_or_create_with_source(path).map(|(k, _)| k)
}

fn load_or_create_with_source(path: &Path) -> Result<(MasterKey, KeySource), KeyFileError> {
    match fs::symlink_metadata(path) {
        Ok(_) => return Ok((load(path)?, KeySource::File(path.to_owned()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(KeyFileError::Io {
                path: path.to_owned(),
                source: e,
            });
        }
    }
    let key = MasterKey::generate();
    let tmp = write_tmp(path, &key)?;
    // hard_link fails if `path` exists, so a concurrent creator's key is kept.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(path).map_err(io_err(path))?;
            Ok((key, KeySource::Created(path.to_owned())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok((load(path)?, KeySource::File(path.to_owned())))
        }
        Err(e) => Err(KeyFileError::Io {
            path: path.to_owned(),
            source: e,
        }),
    }
}

/// The key from [`ENV_VAR`] if it is set, else [`load_or_create`]`(path)`.
pub fn from_env_or_file(path: &Path) -> Result<(MasterKey, KeySource), KeyFileError> {
    match std::env::var(ENV_VAR) {
        Ok(text) => Ok((parse_key_text(&text, ENV_VAR)?, KeySource::Env)),
        Err(std::env::VarError::NotUnicode(_)) => Err(KeyFileError::Malformed {
            source_name: ENV_VAR.into(),
            reason: "not valid UTF-8".into(),
        }),
        Err(std::env::VarError::NotPresent) => load_or_create_with_source(path),
    }
}

/// Replaces the key file at `path` atomically and durably: a new 0600 file
/// is written and fsynced, renamed over `path`, and the directory fsynced.
pub fn write_atomic(path: &Path, key: &MasterKey) -> Result<(), KeyFileError> {
    let tmp = write_tmp(path, key)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(KeyFileError::Io {
            path: path.to_owned(),
            source: e,
        });
    }
    sync_dir(path).map_err(io_err(path))
}

/// `<path>.next`: where a rotation stages the new key (see the module docs).
pub fn next_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".next");
    path.with_file_name(name)
}

/// The key at `path` as current, plus the staged key at [`next_path`] if a
/// rotation was interrupted.
pub fn load_keyring(path: &Path) -> Result<Keyring, KeyFileError> {
    let mut ring = Keyring::new(load(path)?);
    let next = next_path(path);
    if fs::symlink_metadata(&next).is_ok() {
        ring.add(load(&next)?);
    }
    Ok(ring)
}
