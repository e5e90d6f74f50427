//! Unpacking zip archives from their encrypted blob.
//!
//! The archive is read through [`BlobReader`], a `Read + Seek` adapter
//! that fetches 2 MiB plaintext windows with `BlobStore::get_range`: the
//! archive is never decrypted to a file. The `zip` crate (deflate only)
//! runs on a blocking thread; each entry's bytes travel to the async side
//! through a small bounded channel and are streamed into the entry's own
//! encrypted blob, scanned for items on the way.
//!
//! Limits are checked twice: from the central directory before anything is
//! inflated (entry count and total expanded size refuse the whole archive
//! with `archive_rejected`; a per-entry ratio refuses the entry), and while
//! inflating (an entry that produces more than it declared, more than the
//! remaining total, or more than the ratio allows is cut off and rejected).

use std::io::{self, Read, Seek, SeekFrom};

use bytes::Bytes;
use clinlabel_blob::BlobStore;
use clinlabel_crypto::DataKey;
use clinlabel_domain::{DomainError, ErrorCode, Phi, Principal};
use clinlabel_store::StoreError;
use clinlabel_store::files::{self, NewFile, Upload, UploadTarget};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::{Ingest, Stored, blob_err, scan};

/// Plaintext bytes fetched per window.
const WINDOW: u64 = 2 << 20;
/// Bytes per piece sent from the inflating thread.
const PIECE: usize = 256 << 10;
/// Entries up to this expanded size are exempt from the ratio check.
pub const RATIO_EXEMPT: u64 = 1 << 20;

/// `Read + Seek` over a blob's plaintext, through windows of `get_range`.
/// For use on a blocking thread (it blocks on the runtime for each window).
pub struct BlobReader {
    rt: tokio::runtime::Handle,
    blobs: BlobStore,
    key: DataKey,
    blob_id: String,
    len: u64,
    pos: u64,
    window_start: u64,
    window: Vec<u8>,
}

impl BlobReader {
    pub fn new(
        rt: tokio::runtime::Handle,
        blobs: BlobStore,
        key: DataKey,
        blob_id: String,
        len: u64,
    ) -> BlobReader {
        BlobReader {
            rt,
            blobs,
            key,
            blob_id,
            len,
            pos: 0,
            window_start: 0,
            window: Vec::new(),
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let start = self.pos - self.pos % WINDOW;
        let end = (start + WINDOW).min(self.len);
        let (blobs, key, id) = (&self.blobs, &self.key, &self.blob_id);
        let data = self.rt.block_on(async move {
            let mut r = blobs
                .get_range(key, id, start..end)
                .await
                .map_err(io::Error::other)?;
            let mut out = Vec::with_capacity((end - start) as usize);
            while let Some(piece) = r.stream.next().await {
                out.extend_from_slice(&piece.map_err(io::Error::other)?);
            }
            Ok::<_, io::Error>(out)
        })?;
        if data.len() as u64 != end - start {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "short read from the archive blob",
            ));
        }
        self.window_start = start;
        self.window = data;
        Ok(())
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let in_window = self.pos >= self.window_start
            && self.pos < self.window_start + self.window.len() as u64;
        if !in_window {
            self.fill()?;
        }
        let off = (self.pos - self.window_start) as usize;
        let n = buf.len().min(self.window.len() - off);
        buf[..n].copy_from_slice(&self.window[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::End(d) => self.len as i128 + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start",
            ));
        }
        self.pos = target as u64;
        Ok(self.pos)
    }
}

/// Why an entry is skipped silently.
fn is_junk(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    name.starts_with("__MACOSX/")
        || name.contains("/__MACOSX/")
        || base == ".DS_Store"
        || base.starts_with("._")
        || base == "Thumbs.db"
}

/// Reads the end-of-central-directory record (and its zip64 form) before
/// the zip reader sees the archive: the declared entry count must be within
/// `max_entries` and the central directory inside the file, so a forged
/// record cannot make the reader allocate for billions of entries.
pub fn precheck<R: Read + Seek>(r: &mut R, len: u64, max_entries: usize) -> Result<(), String> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let tail_len = len.min(65_535 + 22);
    r.seek(SeekFrom::Start(len - tail_len))
        .map_err(|e| e.to_string())?;
    let mut tail = vec![0u8; tail_len as usize];
    r.read_exact(&mut tail).map_err(|e| e.to_string())?;
    let Some(at) = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| &tail[i..i + 4] == EOCD)
    else {
        return Err("not a zip archive (no end of central directory record)".into());
    };
    let e = &tail[at..];
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as u64;
    let u32_at =
        |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as u64;
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let (mut entries, mut cd_size, mut cd_offset) = (u16_at(e, 10), u32_at(e, 12), u32_at(e, 16));
    if entries == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        // zip64: the locator sits just before the record.
        let eocd_pos = len - tail_len + at as u64;
        if eocd_pos < 20 {
            return Err("corrupt zip64 archive (no zip64 locator)".into());
        }
        let mut loc = [0u8; 20];
        r.seek(SeekFrom::Start(eocd_pos - 20))
            .map_err(|e| e.to_string())?;
        r.read_exact(&mut loc).map_err(|e| e.to_string())?;
        if &loc[..4] != b"PK\x06\x07" {
            return Err("corrupt zip64 archive (no zip64 locator)".into());
        }
        let rec = u64_at(&loc, 8);
        if rec.saturating_add(56) > len {
            return Err("corrupt zip64 archive (record outside the file)".into());
        }
        let mut z = [0u8; 56];
        r.seek(SeekFrom::Start(rec)).map_err(|e| e.to_string())?;
        r.read_exact(&mut z).map_err(|e| e.to_string())?;
        if &z[..4] != b"PK\x06\x06" {
            return Err("corrupt zip64 archive (bad zip64 record)".into());
        }
        (entries, cd_size, cd_offset) = (u64_at(&z, 32), u64_at(&z, 40), u64_at(&z, 48));
    }
    if entries > max_entries as u64 {
        return Err(format!(
            "{entries} entries, more than the limit of {max_entries}"
        ));
    }
    if cd_offset.saturating_add(cd_size) > len || entries.saturating_mul(46) > cd_size {
        return Err("corrupt zip archive (central directory outside the file)".into());
    }
    r.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    Ok(())
}

/// Messages from the inflating thread.
enum Event {
    /// An entry refused before reading.
    Refused { name: String, reason: String },
    /// An entry's bytes follow on `data`; an `Err` ends it rejected.
    Entry {
        name: String,
        data: mpsc::Receiver<Result<Bytes, String>>,
    },
}

/// The result of the central-directory checks, or the archive-level refusal.
fn archive_refusal(msg: String) -> StoreError {
    DomainError::new(ErrorCode::ArchiveRejected)
        .with_message(msg)
        .into()
}

/// Unpacks the archive in `blob_id` into files of the upload. Returns the summary.
pub(crate) async fn unpack(
    ing: &Ingest,
    who: &Principal,
    u: &Upload,
    target: &UploadTarget,
    key: &DataKey,
    blob_id: &str,
    len: u64,
) -> Result<serde_json::Value, StoreError> {
    let limits = ing.limits.clone();
    let reader = BlobReader::new(
        tokio::runtime::Handle::current(),
        ing.blobs.clone(),
        key.clone(),
        blob_id.to_string(),
        len,
    );
    let (tx, mut rx) = mpsc::channel::<Result<Event, StoreError>>(2);
    let archive_name = u.name.expose().clone();
    let thread = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        if let Err(why) = precheck(&mut reader, len, limits.max_entries) {
            let _ = tx.blocking_send(Err(archive_refusal(why)));
            return;
        }
        let mut zip = match zip::ZipArchive::new(reader) {
            Ok(z) => z,
            Err(e) => {
                let _ = tx.blocking_send(Err(archive_refusal(format!(
                    "not a readable zip archive ({e})"
                ))));
                return;
            }
        };
        // Central-directory checks, before anything is inflated.
        if zip.len() > limits.max_entries {
            let _ = tx.blocking_send(Err(archive_refusal(format!(
                "{} entries, more than the limit of {}",
                zip.len(),
                limits.max_entries
            ))));
            return;
        }
        let mut declared_total: u64 = 0;
        for i in 0..zip.len() {
            if let Ok(e) = zip.by_index_data(i) {
                declared_total = declared_total.saturating_add(e.size());
            }
        }
        if declared_total > limits.max_expanded {
            let _ = tx.blocking_send(Err(archive_refusal(format!(
                "{declared_total} bytes expanded, more than the limit of {}",
                limits.max_expanded
            ))));
            return;
        }
        let mut budget = limits.max_expanded;
        for i in 0..zip.len() {
            let meta = match zip.by_index_data(i) {
                Ok(m) => m,
                Err(e) => {
                    let _ = tx.blocking_send(Ok(Event::Refused {
                        name: format!("{archive_name}/#{i}"),
                        reason: format!("unreadable entry ({e})"),
                    }));
                    continue;
                }
            };
            let raw = String::from_utf8_lossy(meta.name_raw()).into_owned();
            if meta.is_dir() || is_junk(&raw) {
                continue;
            }
            let name = format!("{archive_name}/{raw}");
            let refuse = |reason: String| Event::Refused {
                name: name.clone(),
                reason,
            };
            let (size, csize) = (meta.size(), meta.compressed_size());
            let refusal = if meta.enclosed_name().is_none() || raw.contains('\\') {
                Some(
                    "unsafe path in the archive (absolute, or leaving the archive with ..)"
                        .to_string(),
                )
            } else if meta.is_symlink() {
                Some("symbolic links are not accepted".to_string())
            } else if scan::is_archive_name(&raw) {
                Some(
                    "nested archives are not unpacked: upload the inner archive on its own"
                        .to_string(),
                )
            } else if meta.encrypted() {
                Some("encrypted entries are not accepted".to_string())
            } else if !matches!(
                meta.compression(),
                zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
            ) {
                Some("compression method not supported (only stored and deflate)".to_string())
            } else if size > RATIO_EXEMPT && size / csize.max(1) > limits.max_ratio {
                Some(format!(
                    "compression ratio {}:1 exceeds the limit of {}:1",
                    size / csize.max(1),
                    limits.max_ratio
                ))
            } else {
                None
            };
            if let Some(reason) = refusal {
                if tx.blocking_send(Ok(refuse(reason))).is_err() {
                    return;
                }
                continue;
            }
            drop(meta);
            let (dtx, drx) = mpsc::channel::<Result<Bytes, String>>(4);
            if tx
                .blocking_send(Ok(Event::Entry {
                    name: name.clone(),
                    data: drx,
                }))
                .is_err()
            {
                return;
            }
            let mut f = match zip.by_index(i) {
                Ok(f) => f,
                Err(e) => {
                    let _ = dtx.blocking_send(Err(format!("unreadable entry ({e})")));
                    continue;
                }
            };
            let allowed = size.min(budget);
            let ratio_cap = if csize.max(1).saturating_mul(limits.max_ratio) < RATIO_EXEMPT {
                RATIO_EXEMPT
            } else {
                csize.max(1).saturating_mul(limits.max_ratio)
            };
            let mut got: u64 = 0;
            let mut buf = vec![0u8; PIECE];
            loop {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        got += n as u64;
                        let over = if got > size {
                            Some(format!("expands beyond its declared size of {size} bytes"))
                        } else if got > allowed {
                            Some(format!(
                                "the archive expands beyond the limit of {} bytes",
                                limits.max_expanded
                            ))
                        } else if got > ratio_cap {
                            Some(format!(
                                "compression ratio exceeds the limit of {}:1",
                                limits.max_ratio
                            ))
                        } else {
                            None
                        };
                        if let Some(reason) = over {
                            let _ = dtx.blocking_send(Err(reason));
                            break;
                        }
                        if dtx
                            .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                            .is_err()
                        {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = dtx.blocking_send(Err(format!("corrupt entry ({e})")));
                        break;
                    }
                }
            }
            budget = budget.saturating_sub(got);
        }
    });

    let (mut files_n, mut accepted, mut rejected, mut duplicates, mut items) =
        (0i64, 0i64, 0i64, 0i64, 0i64);
    let mut failure: Option<StoreError> = None;
    while let Some(ev) = rx.recv().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        files_n += 1;
        match ev {
            Event::Refused { name, reason } => {
                let f = NewFile {
                    name: Phi::new(name),
                    sha256: None,
                    size: 0,
                    blob_id: None,
                    media_type: "application/octet-stream".into(),
                    purpose: u.purpose,
                    outcome: Err(reason),
                    dicom: None,
                };
                files::record_file(&ing.db, who, u, &target.org_id, f).await?;
                rejected += 1;
            }
            Event::Entry { name, data } => {
                let cut = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
                let cut2 = cut.clone();
                let body = tokio_stream_of(data).map(move |r| {
                    r.map_err(|reason| {
                        *cut2.lock().expect("not poisoned") = Some(reason);
                        io::Error::other("entry refused while inflating")
                    })
                });
                match ing
                    .store_file(who, u, target, key, Phi::new(name.clone()), body, None)
                    .await
                {
                    Ok(Stored::File(rec)) => {
                        if rec.duplicate {
                            duplicates += 1;
                        } else if rec.accepted {
                            accepted += 1;
                            items += rec.items;
                        } else {
                            rejected += 1;
                        }
                    }
                    Ok(Stored::ShaMismatch(_)) => unreachable!("no declared hash for entries"),
                    Err(e) => {
                        let reason = cut.lock().expect("not poisoned").take();
                        match reason {
                            Some(reason) => {
                                let f = NewFile {
                                    name: Phi::new(name),
                                    sha256: None,
                                    size: 0,
                                    blob_id: None,
                                    media_type: "application/octet-stream".into(),
                                    purpose: u.purpose,
                                    outcome: Err(reason),
                                    dicom: None,
                                };
                                files::record_file(&ing.db, who, u, &target.org_id, f).await?;
                                rejected += 1;
                            }
                            None => {
                                failure = Some(e);
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
    drop(rx);
    thread
        .await
        .map_err(|e| StoreError::Internal(format!("archive thread: {e}")))?;
    if let Some(e) = failure {
        return Err(e);
    }
    let _ = blob_err;
    Ok(
        serde_json::json!({ "files": files_n, "accepted": accepted, "rejected": rejected, "duplicates": duplicates, "items": items }),
    )
}

/// A receiver as a stream.
fn tokio_stream_of<T: Send + 'static>(
    rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}
