//! Every code system an installation has: the bundled ones and the imported ones.

use crate::{CodeSystem, Error, Release, System, codec};
use clinlabel_crypto::DataKey;
use serde::Serialize;
use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// ICD-10-CM 2026 (April 1 update), from the CMS tabular XML.
static ICD10CM: &[u8] = include_bytes!("../data/icd10cm.clt");
/// ICD-10-PCS FY2025, Medical and Surgical section.
static ICD10PCS: &[u8] = include_bytes!("../data/icd10pcs.clt");

/// Where a loaded system came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Shipped inside clinlabel (public domain).
    Bundled,
    /// Imported into this installation (`clinlabel terminology import`).
    Imported,
}

/// A system's description, available without building its index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemInfo {
    /// The id, e.g. `icd10cm`.
    pub system: System,
    /// E.g. `ICD-10-CM`.
    pub name: &'static str,
    /// The canonical system URI.
    pub uri: &'static str,
    /// The release version.
    pub version: String,
    /// Where the content came from.
    pub source: String,
    /// Number of concepts (active or not).
    pub concepts: u32,
    pub origin: Origin,
    /// Licensed content (never shipped; imported by the installation).
    pub licensed: bool,
}

struct Entry {
    info: SystemInfo,
    bytes: Cow<'static, [u8]>,
    cell: OnceLock<Result<Arc<CodeSystem>, String>>,
}

/// The systems of one installation. Each index is built on first use
/// ([`Terminology::get`]) or all at once ([`Terminology::preload`]), then shared.
#[derive(Default)]
pub struct Terminology {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Terminology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|e| (&e.info.system, &e.info.version, e.cell.get().is_some()))).finish()
    }
}

impl Terminology {
    /// No systems.
    pub fn empty() -> Terminology {
        Terminology::default()
    }

    /// The systems shipped with clinlabel: ICD-10-CM and ICD-10-PCS.
    pub fn bundled() -> Terminology {
        let mut t = Terminology::default();
        for bytes in [ICD10CM, ICD10PCS] {
            t.add_stored(Cow::Borrowed(bytes), Origin::Bundled).expect("the bundled terminology data is intact (see tests/bundled.rs)");
        }
        t
    }

    /// One process-wide [`Terminology::bundled`], so its indexes are built once per process.
    pub fn shared_bundled() -> Arc<Terminology> {
        static SHARED: OnceLock<Arc<Terminology>> = OnceLock::new();
        SHARED.get_or_init(|| Arc::new(Terminology::bundled())).clone()
    }

    /// The bundled systems plus those imported into `data_dir` (which replace
    /// a bundled system of the same id), decrypted with the installation's
    /// terminology data key.
    pub fn installed(data_dir: &Path, key: &DataKey) -> Result<Terminology, Error> {
        let mut t = Terminology::bundled();
        for (_, bytes) in crate::installed::read_all(data_dir, key)? {
            t.add_stored(Cow::Owned(bytes), Origin::Imported)?;
        }
        Ok(t)
    }

    /// Adds a stored release ([`codec`] bytes), replacing the same system.
    pub fn add_stored(&mut self, bytes: Cow<'static, [u8]>, origin: Origin) -> Result<SystemInfo, Error> {
        let h = codec::read_header(&bytes)?;
        let info = SystemInfo {
            system: h.system,
            name: h.system.name(),
            uri: h.system.uri(),
            version: h.version,
            source: h.source,
            concepts: h.concepts,
            origin,
            licensed: h.system.licensed(),
        };
        self.put(Entry { info: info.clone(), bytes, cell: OnceLock::new() });
        Ok(info)
    }

    /// Adds a release held in memory (indexed now), replacing the same system.
    pub fn add_release(&mut self, release: Release, origin: Origin) -> SystemInfo {
        let info = SystemInfo {
            system: release.system,
            name: release.system.name(),
            uri: release.system.uri(),
            version: release.version.clone(),
            source: release.source.clone(),
            concepts: release.concepts.len() as u32,
            origin,
            licensed: release.system.licensed(),
        };
        let cell = OnceLock::new();
        let _ = cell.set(Ok(Arc::new(CodeSystem::from_release(release))));
        self.put(Entry { info: info.clone(), bytes: Cow::Borrowed(&[]), cell });
        info
    }

    fn put(&mut self, e: Entry) {
        self.entries.retain(|x| x.info.system != e.info.system);
        self.entries.push(e);
        self.entries.sort_by_key(|x| x.info.system);
    }

    /// The systems, in [`System`] order.
    pub fn systems(&self) -> Vec<SystemInfo> {
        self.entries.iter().map(|e| e.info.clone()).collect()
    }

    pub fn info(&self, system: System) -> Option<&SystemInfo> {
        self.entries.iter().find(|e| e.info.system == system).map(|e| &e.info)
    }

    /// The system's index if it is built already (never blocks).
    pub fn loaded(&self, system: System) -> Option<Arc<CodeSystem>> {
        self.entries.iter().find(|e| e.info.system == system)?.cell.get()?.as_ref().ok().cloned()
    }

    /// The system's index, built on first use (this may take a second for a
    /// large release: call it off the async runtime). `Error::Missing` when
    /// the installation has no such system.
    pub fn get(&self, system: System) -> Result<Arc<CodeSystem>, Error> {
        let e = self
            .entries
            .iter()
            .find(|e| e.info.system == system)
            .ok_or_else(|| Error::Missing(format!("{} is not loaded; import it with `clinlabel terminology import --system {}`", system.name(), system.id())))?;
        e.cell
            .get_or_init(|| {
                let release = codec::decode(&e.bytes).map_err(|err| format!("{}: {err}", system.name()))?;
                Ok(Arc::new(CodeSystem::from_release(release)))
            })
            .clone()
            .map_err(Error::Corrupt)
    }

    /// A new registry holding only `system`'s stored release from `other`,
    /// not yet indexed (to time the build, as the benchmark does).
    pub fn from_stored_of(other: &Terminology, system: System) -> Result<Terminology, Error> {
        let e = other.entries.iter().find(|e| e.info.system == system).ok_or_else(|| Error::Missing(format!("{} is not loaded", system.name())))?;
        if e.bytes.is_empty() {
            return Err(Error::Missing(format!("{} is held only in memory", system.name())));
        }
        let mut t = Terminology::default();
        t.put(Entry { info: e.info.clone(), bytes: e.bytes.clone(), cell: OnceLock::new() });
        Ok(t)
    }

    /// Builds every index now; returns each system's build time (or error).
    pub fn preload(&self) -> Vec<(System, Result<Duration, Error>)> {
        self.entries
            .iter()
            .map(|e| {
                let t = Instant::now();
                (e.info.system, self.get(e.info.system).map(|_| t.elapsed()))
            })
            .collect()
    }
}
