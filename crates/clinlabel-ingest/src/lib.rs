//! # clinlabel-ingest
//!
//! Uploads in, dataset items out: the resumable upload protocol, assembly of
//! the received parts into one encrypted file, archive unpacking, and the
//! modality-specific readers that turn each file into dataset items.
//!
//! ## The protocol (tus-like; the HTTP routes are in `clinlabel-server`)
//!
//! 1. **Start**: `POST /projects/{id}/uploads` with `{name, size, sha256?,
//!    purpose?}` → `201` with the upload (`id`, `received: 0`, `state:
//!    open`). Refused with `agreement_required` unless the organisation has
//!    signed the current NDA and DPA; `upload_too_large` beyond
//!    [`Limits::max_upload`].
//! 2. **Append**: `PATCH /uploads/{id}` with `Upload-Offset: <received>` and
//!    the next bytes as an `application/offset+octet-stream` (or
//!    `application/octet-stream`) body, at most [`Limits::max_chunk`] bytes.
//!    The body streams straight into its own encrypted part blob; nothing is
//!    buffered whole and nothing is written in plaintext. When the body ends
//!    cleanly the part is recorded and the upload moves to `offset + n`; the
//!    answer carries the new `Upload-Offset`. A wrong offset is
//!    `upload_offset_mismatch` (409, details: the current offset); a chunk
//!    running past the declared size or the chunk cap is `upload_too_large`.
//!    A chunk that is the whole file (offset 0 and `Content-Length` equal
//!    to the declared size) streams straight into the file's blob instead:
//!    no part, no second pass (small files cost one blob write).
//! 3. **Resume**: if a chunk's connection drops (or stays idle for
//!    [`Limits::chunk_idle_timeout`]) the part blob is discarded and the
//!    offset stays where it was (`upload_interrupted` if the client is still
//!    there to hear it). `GET /uploads/{id}` tells the client the offset
//!    (also as `Upload-Offset`); it re-sends from there. After a browser
//!    reload, `GET /projects/{id}/uploads?state=open` lists what to resume.
//! 4. **Completion**: the chunk that brings `received` to `size` also
//!    processes the upload before it answers (see below) and returns the
//!    finished upload (`state: complete` or `failed`, `summary`). A zero-byte
//!    upload is completed by a `PATCH` with an empty body at offset 0. If the
//!    server stopped while processing, a `PATCH` with an empty body at the
//!    final offset retries it once the claim is stale
//!    ([`Limits::processing_stale_after`]).
//! 5. **Abort**: `DELETE /uploads/{id}` marks it `failed` (`aborted`) and
//!    deletes its parts.
//!
//! ## Processing
//!
//! The parts are decrypted in order and re-encrypted into one file blob,
//! hashing (SHA-256) and scanning for items on the way. Then:
//! - a declared SHA-256 that does not match fails the upload
//!   (`sha256_mismatch`) and keeps nothing;
//! - if the project already holds a file with that SHA-256, the upload links
//!   to it (`duplicate`), and the new blob is deleted: nothing is stored twice;
//! - otherwise the file is recorded `accepted` with its items, or `rejected`
//!   with the reason (its blob deleted); either way the rest continues;
//! - a `.zip` (purpose `data`) is unpacked: each entry becomes a file named
//!   `archive.zip/inner/path` with its own items; the archive blob is deleted
//!   afterwards. Directories and macOS junk (`__MACOSX/`, `.DS_Store`,
//!   `._*`) are skipped; nested archives, unsafe paths (absolute, `..`),
//!   encrypted entries and methods other than stored/deflate are recorded as
//!   rejected entries.
//! - finally the parts are deleted.
//!
//! ## Items per modality ([`scan`])
//!
//! A scanner chosen by the project's modality and the file's extension sees
//! the plaintext as it streams past and answers with the file's items (a
//! kind, a byte range of the file, meta) or the reason it cannot be read;
//! reasons name the place (byte offset, line, row, document) and never quote
//! content. Text projects:
//!
//! | file | items | meta |
//! |---|---|---|
//! | `.txt`, `.md` | the whole file (after a BOM) | `chars` |
//! | `.jsonl` | one per non-blank line, `{"id"?, "text", "metadata"?}` | `line`, `chars` |
//! | `.csv` | one per row; the text in the specification's `text_column` (default `text`) | `row`, `line`, `chars`, `header` (its byte range), `text_column` |
//! | `.xml`, `.bioc` | one per `<document>` of a BioC `<collection>` | `document`, `chars` |
//! | `.json` | one per task of a Label Studio JSON export (its results become the workspace's suggestions; a label, relation type, assertion, code system or question the schema lacks refuses the file: `schema_mismatch`) | `task`, `chars`, `suggestions`, `text_key`? |
//!
//! Every text format passes a BOM + UTF-8 front first: a file in another
//! encoding is refused with the byte offset of its first bad byte, whatever
//! the chunking; CRLF is kept as stored; a note's text is at most 1 MiB.
//! CSV follows the `csv` crate's reading exactly (checked against it on
//! random input) and refuses rows whose field count differs from the
//! header's, a quoted field left open and an empty text. BioC files are
//! followed by an incremental XML lexer that keeps only the current
//! `<document>` (at most [`scan::bioc::MAX_DOCUMENT_XML`]), which
//! `clinlabel-text`'s BioC reader then reads (passages at their offsets,
//! annotations checked, XML line-end normalisation: a CR survives as
//! `&#13;`). Label Studio exports are followed the same way by a JSON lexer
//! that keeps only the current task ([`scan::labelstudio`]).
//!
//! ## Reading notes back ([`note`])
//!
//! The content routes serve `.txt`/`.md` notes and JSONL lines as stored;
//! CSV rows, BioC documents and Label Studio tasks are read again from
//! their byte range (a row with its header range) by `clinlabel-text`'s
//! readers and served as JSON `{"id"?, "text", "metadata"?}`. [`note::text`] gives any note's text (the
//! server checks span texts against it). Offsets are chars of that text,
//! identical to what `clinlabel-text` reads from the whole file.
//!
//! ## Limits ([`Limits`])
//!
//! - one upload: [`Limits::max_upload`] bytes (default 64 GiB);
//! - one chunk: [`Limits::max_chunk`] (default 8 MiB, so each part is a
//!   single PUT and an interrupted chunk never leaves a partial object);
//! - archives: at most [`Limits::max_entries`] entries and
//!   [`Limits::max_expanded`] bytes expanded in total, checked from the
//!   central directory (the whole archive is refused with
//!   `archive_rejected`) AND counted while inflating (an entry that inflates
//!   beyond its declared size, the remaining total, or the ratio is cut off
//!   and rejected); per entry, expanded/compressed at most
//!   [`Limits::max_ratio`] for entries over 1 MiB expanded;
//! - items: at most [`Limits::max_items_per_file`] per file; a line of a
//!   line format at most [`scan::MAX_LINE`] bytes, a CSV row at most
//!   [`scan::csv::MAX_ROW`], a BioC document at most
//!   [`scan::bioc::MAX_DOCUMENT_XML`] of XML; a note's text at most
//!   [`scan::text::MAX_NOTE_BYTES`] (1 MiB).
//!
//! ## Cost
//!
//! A multi-chunk upload is written twice (parts, then the file) and read
//! once (assembly); every part is durable (fsync) before it is
//! acknowledged. `bench::upload` measures it beside a raw disk write.
//!
//! ## Invariants
//!
//! - Plaintext never touches a disk: parts, files and archive entries go
//!   straight into `BlobStore::put` (encrypting as they stream); archives
//!   are read through `BlobStore::get_range` windows, never decrypted to a
//!   file.
//! - Memory per upload is bounded whatever the size: a few 1 MiB chunks in
//!   flight, one line for line formats (one row for CSV, one document for
//!   BioC), 1 MiB of header for header formats,
//!   a 2 MiB read window plus the zip central directory for archives, and
//!   the items of one file (capped) — except DICOM files, which are held
//!   whole while de-identified: at most [`Limits::max_dicom_file`] bytes
//!   each, [`Limits::dicom_parallel`] at a time (see [`dicom`]).
//! - DICOM: only the de-identified file is stored past ingest; its
//!   instance joins the project's item for its series (one item per
//!   series, whichever upload brought the instance).
//! - A part is recorded only if it starts where the upload stands (checked
//!   in the UPDATE itself), so racing appends cannot both land.
//! - Every state change goes through `clinlabel_store::files`, audited in
//!   its transaction; file names and contents are never logged
//!   (`Phi<String>` carries names).

pub mod archive;
pub mod bench;
pub mod dicom;
pub mod note;
pub mod scan;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use clinlabel_blob::{BlobError, BlobStore};
use clinlabel_crypto::{DataKey, Keyring};
use clinlabel_domain::{DomainError, ErrorCode, Principal};
use clinlabel_store::files::{self, NewFile, NewUpload, PartOutcome, Upload, UploadTarget};
use clinlabel_store::{Db, StoreError};
use futures::stream::{self, Stream, StreamExt, TryStreamExt};

/// The limits ingest enforces. See the crate docs.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_upload: i64,
    pub max_chunk: u64,
    pub chunk_idle_timeout: Duration,
    pub processing_stale_after: Duration,
    pub max_entries: usize,
    pub max_expanded: u64,
    pub max_ratio: u64,
    pub max_items_per_file: usize,
    /// Largest DICOM file de-identified at ingest (held in memory while parsed).
    pub max_dicom_file: u64,
    /// DICOM files parsed at once, across all uploads of the process (bounds
    /// memory; the first `Ingest` made sets it).
    pub dicom_parallel: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_upload: 64 << 30,
            max_chunk: clinlabel_blob::PART_SIZE as u64,
            chunk_idle_timeout: Duration::from_secs(60),
            processing_stale_after: Duration::from_secs(3600),
            max_entries: 50_000,
            max_expanded: 64 << 30,
            max_ratio: 100,
            max_items_per_file: 100_000,
            max_dicom_file: 512 << 20,
            dicom_parallel: 2,
        }
    }
}

/// Ingest over the database and blob store. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    pub db: Db,
    pub blobs: BlobStore,
    pub keyring: Arc<Keyring>,
    pub limits: Arc<Limits>,
}

pub(crate) fn blob_err(e: BlobError) -> StoreError {
    if e.is_integrity_failure() {
        StoreError::Domain(DomainError::new(ErrorCode::IntegrityError))
    } else {
        StoreError::Internal(format!("blob store: {e}"))
    }
}

/// A body that failed: why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFault {
    Overrun,
    Idle,
    Broken,
}

impl Ingest {
    pub fn new(db: Db, blobs: BlobStore, keyring: Arc<Keyring>, limits: Limits) -> Ingest {
        Ingest {
            db,
            blobs,
            keyring,
            limits: Arc::new(limits),
        }
    }

    async fn key(&self, scope: &str) -> Result<DataKey, StoreError> {
        clinlabel_store::keys::data_key(&self.db, &self.keyring, scope).await
    }

    /// Opens an upload.
    pub async fn start(
        &self,
        who: &Principal,
        project_id: &str,
        new: NewUpload,
    ) -> Result<Upload, StoreError> {
        files::start_upload(&self.db, who, project_id, new, self.limits.max_upload).await
    }

    /// Where an upload stands.
    pub async fn status(&self, who: &Principal, upload_id: &str) -> Result<Upload, StoreError> {
        files::get_upload(&self.db, who, upload_id).await
    }

    /// Aborts an open upload and deletes its parts.
    pub async fn abort(&self, who: &Principal, upload_id: &str) -> Result<Upload, StoreError> {
        let blobs = files::abort_upload(&self.db, who, upload_id).await?;
        for b in blobs {
            self.blobs.delete(&b).await.map_err(blob_err)?;
        }
        files::forget_parts(&self.db, upload_id).await?;
        files::get_upload(&self.db, who, upload_id).await
    }

    /// Appends the chunk `body` at `offset`. `declared_len` (Content-Length)
    /// lets an oversized chunk be refused before any byte is read.
    pub async fn append<S>(
        &self,
        who: &Principal,
        upload_id: &str,
        offset: i64,
        declared_len: Option<u64>,
        body: S,
    ) -> Result<Upload, StoreError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
    {
        let (u, target) = files::upload_for_append(&self.db, who, upload_id).await?;
        if u.state != "open" {
            if u.state == "processing" && offset == u.size {
                return self.process(who, &u, &target).await;
            }
            return Err(DomainError::new(ErrorCode::InvalidTransition)
                .with_message(format!("The upload is {}: it takes no more data.", u.state))
                .with_details(serde_json::json!({ "state": u.state }))
                .into());
        }
        if offset != u.received {
            return Err(mismatch(u.received));
        }
        let room = ((u.size - u.received) as u64).min(self.limits.max_chunk);
        if declared_len.is_some_and(|n| n > room) {
            return Err(too_large(room));
        }
        let archive = u.purpose == files::Purpose::Data
            && u.name.expose().to_ascii_lowercase().ends_with(".zip");
        if u.received == 0 && u.size > 0 && declared_len == Some(u.size as u64) && !archive {
            return self.append_whole(who, &u, &target, body).await;
        }
        if u.received < u.size {
            let key = self.key(&target.key_scope).await?;
            let blob_id = format!("part-{}-{}", u.id, clinlabel_store::db::new_id());
            let fault = Arc::new(Mutex::new(None::<BodyFault>));
            let guarded = guard_body(body, room, self.limits.chunk_idle_timeout, fault.clone());
            let info = match self.blobs.put(&key, &blob_id, guarded).await {
                Ok(info) => info,
                Err(e) => {
                    let _ = self.blobs.delete(&blob_id).await;
                    return Err(match *fault.lock().expect("not poisoned") {
                        Some(BodyFault::Overrun) => too_large(room),
                        Some(BodyFault::Idle) | Some(BodyFault::Broken) => {
                            ErrorCode::UploadInterrupted.into()
                        }
                        None => blob_err(e),
                    });
                }
            };
            if info.size == 0 {
                self.blobs.delete(&blob_id).await.map_err(blob_err)?;
                return files::get_upload(&self.db, who, upload_id).await;
            }
            match files::record_part(&self.db, who, upload_id, offset, &blob_id, info.size as i64)
                .await
            {
                Ok(PartOutcome::Recorded { received }) if received < u.size => {
                    return files::get_upload(&self.db, who, upload_id).await;
                }
                Ok(PartOutcome::Recorded { .. }) => {}
                Ok(PartOutcome::Stale(now)) => {
                    self.blobs.delete(&blob_id).await.map_err(blob_err)?;
                    return Err(mismatch(now.received));
                }
                Err(e) => {
                    let _ = self.blobs.delete(&blob_id).await;
                    return Err(e);
                }
            }
        }
        let u = files::get_upload(&self.db, who, upload_id).await?;
        self.process(who, &u, &target).await
    }

    /// Processes a fully received upload (in a task of its own, so a client
    /// that goes away does not cut processing short).
    async fn process(
        &self,
        who: &Principal,
        u: &Upload,
        target: &UploadTarget,
    ) -> Result<Upload, StoreError> {
        if !files::claim_processing(
            &self.db,
            &u.id,
            self.limits.processing_stale_after.as_millis() as i64,
        )
        .await?
        {
            return files::get_upload(&self.db, who, &u.id).await;
        }
        let this = self.clone();
        let (who2, u2, t2) = (who.clone(), u.clone(), target.clone());
        let task = tokio::spawn(async move {
            let r = this.process_claimed(&who2, &u2, &t2).await;
            if let Err(e) = &r {
                // Leave the upload retryable: a transient failure (storage
                // down) must not lose what was received.
                let _ = files::release_claim(&this.db, &u2.id).await;
                if let StoreError::Domain(d) = e
                    && d.code == ErrorCode::ArchiveRejected
                {
                    let reason = d.message().to_string();
                    let _ = files::fail_upload(
                        &this.db,
                        &who2,
                        &u2.id,
                        &format!("archive_rejected: {reason}"),
                    )
                    .await;
                    this.drop_parts(&u2.id).await;
                }
            }
            r
        });
        task.await
            .map_err(|e| StoreError::Internal(format!("processing task: {e}")))?
    }

    /// Deletes part blobs (best effort: a leftover is ciphertext nobody references).
    async fn delete_blobs(&self, parts: &[files::Part]) {
        for p in parts {
            let _ = self.blobs.delete(&p.blob_id).await;
        }
    }

    async fn drop_parts(&self, upload_id: &str) {
        if let Ok(parts) = files::parts(&self.db, upload_id).await {
            for p in parts {
                let _ = self.blobs.delete(&p.blob_id).await;
            }
            let _ = files::forget_parts(&self.db, upload_id).await;
        }
    }

    /// The upload's plaintext, part after part.
    async fn plaintext(
        &self,
        key: &DataKey,
        upload_id: &str,
    ) -> Result<Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>, StoreError> {
        let parts = files::parts(&self.db, upload_id).await?;
        let blobs = self.blobs.clone();
        let key = key.clone();
        let s = stream::iter(parts)
            .then(move |p| {
                let blobs = blobs.clone();
                let key = key.clone();
                async move {
                    blobs
                        .get(&key, &p.blob_id)
                        .await
                        .map_err(std::io::Error::other)
                }
            })
            .map_ok(|s| s.map_err(std::io::Error::other))
            .try_flatten();
        Ok(Box::pin(s))
    }

    async fn process_claimed(
        &self,
        who: &Principal,
        u: &Upload,
        target: &UploadTarget,
    ) -> Result<Upload, StoreError> {
        let key = self.key(&target.key_scope).await?;
        // `complete_upload` forgets the part rows: keep their blob ids to delete after.
        let parts = files::parts(&self.db, &u.id).await?;
        let name = u.name.expose().clone();
        let archive =
            u.purpose == files::Purpose::Data && name.to_ascii_lowercase().ends_with(".zip");
        let body = self.plaintext(&key, &u.id).await?;
        if archive {
            let blob_id = format!("arch-{}", u.id);
            let info = self
                .blobs
                .put(&key, &blob_id, body)
                .await
                .map_err(blob_err)?;
            if let Some(declared) = &u.declared_sha256
                && *declared != info.sha256
            {
                self.blobs.delete(&blob_id).await.map_err(blob_err)?;
                return self.mismatched(who, u, &info.sha256).await;
            }
            let result = archive::unpack(self, who, u, target, &key, &blob_id, info.size).await;
            self.blobs.delete(&blob_id).await.map_err(blob_err)?;
            let summary = result?;
            let done =
                files::complete_upload(&self.db, who, u, &target.org_id, None, summary).await?;
            self.delete_blobs(&parts).await;
            return Ok(done);
        }
        let rec = match self
            .store_file(
                who,
                u,
                target,
                &key,
                u.name.clone(),
                body,
                u.declared_sha256.as_deref(),
            )
            .await?
        {
            Stored::File(rec) => rec,
            Stored::ShaMismatch(got) => return self.mismatched(who, u, &got).await,
        };
        let summary = summary_of(&rec);
        let done = files::complete_upload(
            &self.db,
            who,
            u,
            &target.org_id,
            Some(&rec.file_id),
            summary,
        )
        .await?;
        self.delete_blobs(&parts).await;
        Ok(done)
    }

    async fn mismatched(
        &self,
        who: &Principal,
        u: &Upload,
        got: &str,
    ) -> Result<Upload, StoreError> {
        files::fail_upload(
            &self.db,
            who,
            &u.id,
            &format!("sha256_mismatch: the received bytes hash to {got}"),
        )
        .await?;
        self.drop_parts(&u.id).await;
        files::get_upload(&self.db, who, &u.id).await
    }

    /// Streams one file into its own blob while hashing and scanning it, then
    /// records it (accepted, rejected or duplicate). For the upload's own file
    /// a declared SHA-256 is checked first. Returns the record and the bytes read.
    pub(crate) async fn store_file<S>(
        &self,
        who: &Principal,
        u: &Upload,
        target: &UploadTarget,
        key: &DataKey,
        name: clinlabel_domain::Phi<String>,
        body: S,
        declared_sha256: Option<&str>,
    ) -> Result<Stored, StoreError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
    {
        let streamed = self
            .stream_file(key, target, u.purpose, name.expose(), body)
            .await
            .map_err(blob_err)?;
        self.record_streamed(who, u, target, name, streamed, declared_sha256)
            .await
    }

    /// Streams one file into a new blob, hashing and scanning it.
    async fn stream_file<S>(
        &self,
        key: &DataKey,
        target: &UploadTarget,
        purpose: files::Purpose,
        name: &str,
        body: S,
    ) -> Result<Streamed, BlobError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
    {
        let (media, scan) = scan::choose(
            target.modality,
            purpose,
            name,
            self.limits.max_items_per_file,
            &scan::TextSettings {
                text_column: &target.text_column,
                text_key: target.text_key.as_deref(),
                schema: &target.schema,
            },
        );
        let scan = Arc::new(Mutex::new(scan));
        let s2 = scan.clone();
        let body = body.inspect_ok(move |b| s2.lock().expect("not poisoned").push(b));
        let blob_id = format!("file-{}", clinlabel_store::db::new_id());
        let info = self.blobs.put(key, &blob_id, body).await?;
        let scan = match Arc::try_unwrap(scan) {
            Ok(m) => m.into_inner().expect("not poisoned"),
            Err(_) => unreachable!("the body stream, the only other holder, was consumed by put"),
        };
        Ok(Streamed {
            blob_id,
            info,
            media,
            scan,
        })
    }

    /// Records a streamed file (accepted, rejected or duplicate) and keeps
    /// its blob only if it is a new accepted file.
    async fn record_streamed(
        &self,
        who: &Principal,
        u: &Upload,
        target: &UploadTarget,
        name: clinlabel_domain::Phi<String>,
        st: Streamed,
        declared_sha256: Option<&str>,
    ) -> Result<Stored, StoreError> {
        let Streamed {
            blob_id,
            info,
            media,
            scan,
        } = st;
        if let Some(declared) = declared_sha256
            && declared != info.sha256
        {
            self.blobs.delete(&blob_id).await.map_err(blob_err)?;
            return Ok(Stored::ShaMismatch(info.sha256));
        }
        let mut outcome = scan.finish();
        let mut blob_id = blob_id;
        let mut dicom = None;
        if outcome.is_ok() && media == scan::DICOM_MEDIA_TYPE {
            // Only the de-identified file is kept (see `dicom`).
            let key = self.key(&target.key_scope).await?;
            let done = self
                .deidentify_stored(&key, target, name.expose(), &blob_id, info.size)
                .await;
            let done = match done {
                Ok(d) => d,
                Err(e) => {
                    let _ = self.blobs.delete(&blob_id).await;
                    return Err(e);
                }
            };
            match done {
                Ok(d) => {
                    self.blobs.delete(&blob_id).await.map_err(blob_err)?;
                    blob_id = d.blob_id;
                    dicom = Some(d.instance);
                }
                Err(reason) => outcome = Err(reason),
            }
        }
        let accepted = outcome.is_ok();
        let f = NewFile {
            name,
            sha256: Some(info.sha256.clone()),
            size: info.size as i64,
            blob_id: accepted.then(|| blob_id.clone()),
            media_type: media,
            purpose: u.purpose,
            outcome,
            dicom,
        };
        let rec = match files::record_file(&self.db, who, u, &target.org_id, f).await {
            Ok(r) => r,
            Err(e) => {
                let _ = self.blobs.delete(&blob_id).await;
                return Err(e);
            }
        };
        if rec.duplicate || !accepted {
            self.blobs.delete(&blob_id).await.map_err(blob_err)?;
        }
        Ok(Stored::File(rec))
    }

    /// The whole file in one chunk: streamed straight into the file blob
    /// (no part, no second pass), then received, claimed and recorded.
    async fn append_whole<S>(
        &self,
        who: &Principal,
        u: &Upload,
        target: &UploadTarget,
        body: S,
    ) -> Result<Upload, StoreError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
    {
        let key = self.key(&target.key_scope).await?;
        let room = u.size as u64;
        let fault = Arc::new(Mutex::new(None::<BodyFault>));
        let guarded = guard_body(body, room, self.limits.chunk_idle_timeout, fault.clone());
        let streamed = match self
            .stream_file(&key, target, u.purpose, u.name.expose(), guarded)
            .await
        {
            Ok(st) => st,
            Err(e) => {
                return Err(match *fault.lock().expect("not poisoned") {
                    Some(BodyFault::Overrun) => too_large(room),
                    Some(BodyFault::Idle) | Some(BodyFault::Broken) => {
                        ErrorCode::UploadInterrupted.into()
                    }
                    None => blob_err(e),
                });
            }
        };
        if streamed.info.size < room {
            // A short first chunk: keep it as an ordinary part.
            let _ = self.blobs.delete(&streamed.blob_id).await;
            return Err(DomainError::new(ErrorCode::UploadInterrupted)
                .with_message(
                    "The chunk ended before the declared size; resume from the upload's offset.",
                )
                .into());
        }
        // Received and claimed in one step; a racing append loses here.
        match files::record_whole(&self.db, who, &u.id, &streamed.blob_id, room as i64).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = self.blobs.delete(&streamed.blob_id).await;
                let now = files::get_upload(&self.db, who, &u.id).await?;
                return Err(mismatch(now.received));
            }
            Err(e) => {
                let _ = self.blobs.delete(&streamed.blob_id).await;
                return Err(e);
            }
        }
        let blob_id = streamed.blob_id.clone();
        let recorded = self
            .record_streamed(
                who,
                u,
                target,
                u.name.clone(),
                streamed,
                u.declared_sha256.as_deref(),
            )
            .await;
        let rec = match recorded {
            Ok(Stored::File(rec)) => rec,
            Ok(Stored::ShaMismatch(got)) => {
                files::forget_parts(&self.db, &u.id).await?;
                return self.mismatched(who, u, &got).await;
            }
            Err(e) => {
                // Nothing to retry from (there is no part): fail it, keep nothing.
                let _ = self.blobs.delete(&blob_id).await;
                let _ = files::forget_parts(&self.db, &u.id).await;
                let _ = files::fail_upload(
                    &self.db,
                    who,
                    &u.id,
                    "processing_failed: upload the file again",
                )
                .await;
                return Err(e);
            }
        };
        let done = files::complete_upload(
            &self.db,
            who,
            u,
            &target.org_id,
            Some(&rec.file_id),
            summary_of(&rec),
        )
        .await?;
        Ok(done)
    }
}

fn summary_of(rec: &files::Recorded) -> serde_json::Value {
    serde_json::json!({
        "files": 1,
        "accepted": (rec.accepted && !rec.duplicate) as i64,
        "rejected": (!rec.accepted && !rec.duplicate) as i64,
        "duplicates": rec.duplicate as i64,
        "items": if rec.duplicate { 0 } else { rec.items },
    })
}

/// A file streamed into its blob, not yet recorded.
pub(crate) struct Streamed {
    blob_id: String,
    info: clinlabel_blob::BlobInfo,
    media: String,
    scan: scan::Scan,
}

/// What `store_file` did.
#[derive(Debug)]
pub(crate) enum Stored {
    /// Recorded (accepted, rejected or duplicate).
    File(files::Recorded),
    /// The content does not hash to the declared SHA-256: nothing kept.
    ShaMismatch(String),
}

fn mismatch(received: i64) -> StoreError {
    DomainError::new(ErrorCode::UploadOffsetMismatch)
        .with_details(serde_json::json!({ "offset": received }))
        .into()
}

fn too_large(room: u64) -> StoreError {
    DomainError::new(ErrorCode::UploadTooLarge)
        .with_message(format!("This chunk may hold at most {room} bytes (the rest of the declared size, and at most the chunk limit)."))
        .with_details(serde_json::json!({ "max_chunk": room }))
        .into()
}

/// Counts the body against `room`, ends it with an error on overrun, on a
/// broken body or after `idle` without data, and records which.
fn guard_body<S>(
    body: S,
    room: u64,
    idle: Duration,
    fault: Arc<Mutex<Option<BodyFault>>>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
{
    let body = Box::pin(body);
    stream::unfold((body, 0u64, false), move |(mut body, seen, done)| {
        let fault = fault.clone();
        async move {
            if done {
                return None;
            }
            let set = |f: BodyFault| {
                *fault.lock().expect("not poisoned") = Some(f);
            };
            match tokio::time::timeout(idle, body.next()).await {
                Err(_) => {
                    set(BodyFault::Idle);
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "chunk body idle",
                        )),
                        (body, seen, true),
                    ))
                }
                Ok(None) => None,
                Ok(Some(Err(e))) => {
                    set(BodyFault::Broken);
                    Some((Err(e), (body, seen, true)))
                }
                Ok(Some(Ok(b))) => {
                    let seen = seen + b.len() as u64;
                    if seen > room {
                        set(BodyFault::Overrun);
                        Some((
                            Err(std::io::Error::other("chunk larger than allowed")),
                            (body, seen, true),
                        ))
                    } else {
                        Some((Ok(b), (body, seen, false)))
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        body: impl Stream<Item = Result<Bytes, std::io::Error>> + Send,
        room: u64,
    ) -> (Vec<Result<usize, String>>, Option<BodyFault>) {
        let fault = Arc::new(Mutex::new(None));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let out = rt.block_on(
            guard_body(body, room, Duration::from_secs(60), fault.clone())
                .map(|r| r.map(|b| b.len()).map_err(|e| e.to_string()))
                .collect::<Vec<_>>(),
        );
        let f = *fault.lock().unwrap();
        (out, f)
    }

    #[test]
    fn a_body_is_counted_and_cut_off_at_its_room() {
        let ok = stream::iter([
            Ok(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"de")),
        ]);
        assert_eq!(run(ok, 5), (vec![Ok(3), Ok(2)], None));
        let over = stream::iter([
            Ok(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"def")),
            Ok(Bytes::from_static(b"g")),
        ]);
        let (out, fault) = run(over, 5);
        assert_eq!((out.len(), fault), (2, Some(BodyFault::Overrun)));
        let broken = stream::iter([
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("reset")),
        ]);
        assert_eq!(run(broken, 5).1, Some(BodyFault::Broken));
    }

    #[test]
    fn an_idle_body_is_cut_off() {
        // One piece, then nothing ever again: the (paused) clock runs out.
        let stalled = stream::iter([Ok(Bytes::from_static(b"abc"))]).chain(stream::pending());
        let (out, fault) = run(stalled, 5);
        assert_eq!(out[0], Ok(3));
        assert_eq!((out.len(), fault), (2, Some(BodyFault::Idle)));
    }
}
