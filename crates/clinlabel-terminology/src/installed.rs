//! Imported releases stored in the installation's data dir, encrypted.
//!
//! `<data dir>/terminology/<system>.clt.enc` holds one system's stored
//! release ([`crate::codec`]) encrypted with the installation's data key of
//! scope [`KEY_SCOPE`] in clinlabel's chunked format (`CLB1`, see
//! `clinlabel-crypto`), under the blob id `terminology-<system>`: a file
//! renamed to another system's name does not decrypt. The data key itself
//! lives wrapped in the database (`clinlabel_store::keys::data_key`), so a
//! master-key rotation keeps these files readable. Files are written to a
//! temporary name and renamed (a crash leaves the previous release), with
//! mode 0600 in a 0700 directory.

use crate::{Error, Release, System, codec};
use clinlabel_crypto::{DataKey, decrypt_all, encrypt_all};
use std::path::{Path, PathBuf};

/// The scope of the data key that encrypts stored terminology.
pub const KEY_SCOPE: &str = "terminology";

/// The directory of stored releases inside a data dir.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("terminology")
}

/// The file of one system's stored release.
pub fn path(data_dir: &Path, system: System) -> PathBuf {
    dir(data_dir).join(format!("{}.clt.enc", system.id()))
}

fn blob_id(system: System) -> String {
    format!("terminology-{}", system.id())
}

/// Encrypts and stores a release, replacing the system's previous one. Returns the file written.
pub fn save(data_dir: &Path, key: &DataKey, release: &Release) -> Result<PathBuf, Error> {
    let d = dir(data_dir);
    std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(&d, e))?;
    }
    let plain = codec::encode(release);
    let sealed = encrypt_all(key, &blob_id(release.system), &plain).map_err(|e| Error::Corrupt(format!("cannot be encrypted: {e}")))?;
    let target = path(data_dir, release.system);
    let tmp = d.join(format!(".{}.tmp", release.system.id()));
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(&sealed).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
    Ok(target)
}

/// Reads and decrypts one stored file into the codec's bytes.
pub fn read(data_dir: &Path, key: &DataKey, system: System) -> Result<Option<Vec<u8>>, Error> {
    let p = path(data_dir, system);
    let sealed = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&p, e)),
    };
    let plain = decrypt_all(key, &blob_id(system), &sealed).map_err(|e| Error::Corrupt(format!("{}: {e}", p.display())))?;
    let header = codec::read_header(&plain).map_err(|e| Error::Corrupt(format!("{}: {e}", p.display())))?;
    if header.system != system {
        return Err(Error::Corrupt(format!("{}: holds {} instead", p.display(), header.system)));
    }
    Ok(Some(plain))
}

/// Every stored system's decrypted bytes.
pub fn read_all(data_dir: &Path, key: &DataKey) -> Result<Vec<(System, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    for s in System::ALL {
        if let Some(b) = read(data_dir, key, s)? {
            out.push((s, b));
        }
    }
    Ok(out)
}

/// Deletes a system's stored release; false when there was none.
pub fn remove(data_dir: &Path, system: System) -> Result<bool, Error> {
    let p = path(data_dir, system);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(&p, e)),
    }
}
