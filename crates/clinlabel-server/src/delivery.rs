//! The delivery builder and the data room's streams: the IO around
//! `clinlabel-delivery` (formats, signatures, report) and
//! `clinlabel_store::deliveries` (rows, rights, audit).
//!
//! **Build.** Pages of 1,000 items stream from the database through every
//! export writer and the report's statistics; each writer's bytes go through
//! a bounded channel into its own encrypted blob `put` (CRC-32 computed on
//! the way, size and SHA-256 by the blob store), so memory is a page plus a
//! few 256 KiB chunks per file whatever the project's size. The audit
//! export streams the same way, page by page of the chain. The report is
//! computed off the async threads, rendered to HTML and PDF and stored; then
//! the manifest lists every file, is signed, and the delivery is recorded.
//! A failure marks the version failed and deletes what it stored.
//!
//! **Serve.** A file streams from its blob, decrypted on the fly, in any
//! single byte range. The whole delivery is a stored zip laid out from the
//! files' names, sizes and CRCs ([`clinlabel_delivery::zip::ZipPlan`]), so a
//! range of the archive maps to header bytes and ranges of blobs: resumable,
//! never written anywhere.

use bytes::Bytes;
use clinlabel_blob::{BlobError, BlobInfo, BlobStore, BlobStream};
use clinlabel_crypto::{DataKey, Keyring};
use clinlabel_delivery::export::image::{STUDY_PREFIX, study_context};
use clinlabel_delivery::export::{ExportContext, ItemRecord, Needs, Note, OutFile, Output, SeriesRecord, writers_for};
use clinlabel_delivery::manifest::{FileEntry, MANIFEST_FORMAT, Manifest, sign_manifest};
use clinlabel_delivery::report::{QuestionDef, Stats};
use clinlabel_delivery::zip::{Piece, ZipEntry, ZipPlan};
use clinlabel_domain::Principal;
use clinlabel_store::deliveries::{self, BuildPlan, BuiltFile, Delivery, Download, ExportInstance, ExportItem, FileSource, ServedFile};
use clinlabel_store::{Db, StoreError};
use futures::{StreamExt, TryStreamExt};
use std::ops::Range;

/// Items per database page while building.
pub const PAGE: i64 = 1000;
/// Bytes gathered before a chunk goes to a blob.
const CHUNK: usize = 256 << 10;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("{0}")]
    Other(String),
}

/// One file being streamed into a blob.
struct Sink {
    tx: Option<tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>>,
    put: tokio::task::JoinHandle<Result<BlobInfo, BlobError>>,
    crc: crc32fast::Hasher,
    buf: Vec<u8>,
    file: BuiltFile,
}

impl Sink {
    fn open(blobs: &BlobStore, key: &DataKey, blob_id: String, path: String, role: &str, format: Option<String>, media_type: &str) -> Sink {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let body = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
        let (blobs, key, id) = (blobs.clone(), key.clone(), blob_id.clone());
        let put = tokio::spawn(async move { blobs.put(&key, &id, body).await });
        Sink {
            tx: Some(tx),
            put,
            crc: crc32fast::Hasher::new(),
            buf: Vec::with_capacity(CHUNK),
            file: BuiltFile { path, role: role.into(), format, media_type: media_type.into(), blob_id, size: 0, sha256: String::new(), crc32: 0 },
        }
    }

    async fn send(&mut self) -> Result<(), BuildError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        if let Some(tx) = &self.tx
            && tx.send(Ok(chunk)).await.is_err()
        {
            // The put ended early: its error says why.
            self.tx = None;
        }
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        self.crc.update(bytes);
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.send().await?;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<BuiltFile, BuildError> {
        self.send().await?;
        self.tx = None;
        let info = self.put.await.map_err(|e| BuildError::Other(format!("blob writer: {e}")))??;
        let mut f = self.file;
        f.size = info.size;
        f.sha256 = info.sha256;
        f.crc32 = self.crc.finalize();
        Ok(f)
    }
}

/// Builds a new delivery version of a project (see the module docs).
pub async fn build(db: &Db, blobs: &BlobStore, keyring: &Keyring, who: &Principal, project_id: &str) -> Result<Delivery, crate::error::ApiError> {
    let plan = deliveries::begin_build(db, keyring, who, project_id, &|f| clinlabel_delivery::export::writer_for(f).is_some()).await?;
    let mut stored: Vec<String> = Vec::new();
    match run(db, blobs, keyring, &plan, &mut stored).await {
        Ok(()) => Ok(deliveries::get(db, who, &plan.delivery_id).await?),
        Err(e) => {
            tracing::error!(error = %e, "delivery build failed");
            for id in &stored {
                let _ = blobs.delete(id).await;
            }
            deliveries::fail_build(db, &plan, "the build failed; see the server log").await?;
            Err(match e {
                BuildError::Store(s) => s.into(),
                BuildError::Blob(b) => b.into(),
                BuildError::Other(o) => crate::error::ApiError::internal(o),
            })
        }
    }
}

/// Blob ids of one build, remembered for clean-up on failure.
struct BlobIds<'a> {
    prefix: String,
    n: usize,
    stored: &'a mut Vec<String>,
}

impl BlobIds<'_> {
    fn next(&mut self) -> String {
        self.n += 1;
        let id = format!("dlv-{}-{}", self.prefix, self.n);
        self.stored.push(id.clone());
        id
    }
}

/// The whole files writers complete (a BRAT document, a SEG, a NIfTI
/// volume, a spaCy shard): each stored as its own blob as soon as it is
/// complete, with its manifest entry; paths must be unique in the delivery.
struct WholeFiles {
    files: Vec<BuiltFile>,
    paths: std::collections::HashSet<String>,
}

impl WholeFiles {
    async fn store(&mut self, blobs: &BlobStore, key: &DataKey, ids: &mut BlobIds<'_>, format: &str, f: OutFile) -> Result<(), BuildError> {
        if !clinlabel_delivery::manifest::clean_path(&f.path) || !self.paths.insert(f.path.clone()) {
            return Err(BuildError::Other(format!("{format}: the file {} is not a clean unique path", f.path)));
        }
        let mut s = Sink::open(blobs, key, ids.next(), f.path, "export", Some(format.to_string()), f.media_type);
        for chunk in f.bytes.chunks(CHUNK) {
            s.write(chunk).await?;
        }
        self.files.push(s.finish().await?);
        Ok(())
    }
}

/// Moves what a writer produced into its streamed file and whole files.
async fn drain(out: &mut Output, sink: Option<&mut Sink>, whole: &mut WholeFiles, blobs: &BlobStore, key: &DataKey, ids: &mut BlobIds<'_>, format: &str) -> Result<(), BuildError> {
    if !out.stream.is_empty() {
        let sink = sink.ok_or_else(|| BuildError::Other(format!("{format}: wrote to a stream it does not have")))?;
        sink.write(&out.stream).await?;
        out.stream.clear();
    }
    for f in std::mem::take(&mut out.files) {
        whole.store(blobs, key, ids, format, f).await?;
    }
    Ok(())
}

/// Frames of DICOM series whose instance geometry is held at once: a page
/// is cut into slices under this (a series bigger than it is one slice).
const FRAMES_PER_SLICE: i64 = 20_000;
/// Items whose text or study attributes are read at the same time.
const READ_AHEAD: usize = 4;

/// Cuts a page's items into slices holding at most [`FRAMES_PER_SLICE`]
/// series frames each (one slice when no writer needs the geometry).
fn slices(items: Vec<ExportItem>, series: bool) -> Vec<Vec<ExportItem>> {
    if !series {
        return vec![items];
    }
    let mut out: Vec<Vec<ExportItem>> = Vec::new();
    let mut frames = 0;
    for it in items {
        if out.is_empty() || (frames + it.frames > FRAMES_PER_SLICE && !out.last().is_some_and(Vec::is_empty)) {
            out.push(Vec::new());
            frames = 0;
        }
        frames += it.frames;
        out.last_mut().expect("a slice").push(it);
    }
    out
}

/// The whole plaintext of `range` of a blob.
async fn read_range(blobs: &BlobStore, key: &DataKey, blob_id: &str, range: Range<u64>) -> Result<Vec<u8>, BuildError> {
    let mut bytes = Vec::with_capacity((range.end - range.start) as usize);
    if range.end > range.start {
        let mut stream = blobs.get_range(key, blob_id, range).await?.stream;
        while let Some(chunk) = stream.try_next().await? {
            bytes.extend_from_slice(&chunk);
        }
    }
    Ok(bytes)
}

/// Fills what the writers need on one item: the note's text, the series'
/// instance geometry and study attributes.
async fn fill(blobs: &BlobStore, key: &DataKey, needs: Needs, it: ExportItem, instances: Vec<ExportInstance>) -> Result<ItemRecord, BuildError> {
    let mut item = it.record;
    if needs.text && item.kind == "note" {
        // The note as the text workspace reads it (so offsets mean the same):
        // CSV rows and BioC documents parsed by clinlabel-ingest, the others
        // as stored (a JSONL line's `text`, or the file's bytes).
        let chars = item.meta.get("chars").and_then(|c| c.as_u64());
        let bad = |e: String| BuildError::Other(format!("note of item {}: {e}", item.item_id));
        let at = clinlabel_ingest::note::ItemRef { blob_id: &it.blob_id, media_type: &it.media_type, kind: &item.kind, range: item.byte_start as u64..item.byte_end as u64, meta: &item.meta };
        let note = match clinlabel_ingest::note::derived(blobs, key, at).await {
            Ok(Some(n)) => {
                let got = n.text.chars().count() as u64;
                if chars.is_some_and(|c| c != got) {
                    return Err(bad(format!("{got} chars where ingest counted {}", chars.unwrap_or_default())));
                }
                Note { text: n.text, source_id: n.id }
            }
            Ok(None) => {
                let bytes = read_range(blobs, key, &it.blob_id, item.byte_start as u64..item.byte_end as u64).await?;
                Note::from_stored(&bytes, it.media_type.starts_with("application/json"), chars).map_err(bad)?
            }
            Err(clinlabel_ingest::note::NoteError::Blob(e)) => return Err(e.into()),
            Err(e) => return Err(bad(e.to_string())),
        };
        item.note = Some(note);
    }
    if needs.series && item.kind == "dicom_series" {
        let metas = instances
            .iter()
            .map(|i| serde_json::from_str::<clinlabel_dicom::ImageMeta>(&i.meta))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BuildError::Other(format!("series of item {}: stored instance metadata: {e}", item.item_id)))?;
        let study = match instances.iter().min_by_key(|i| i.size) {
            Some(i) if needs.study => {
                let size = i.size.max(0) as u64;
                let whole = size <= STUDY_PREFIX;
                let bytes = read_range(blobs, key, &i.blob_id, 0..size.min(STUDY_PREFIX)).await?;
                let study = tokio::task::spawn_blocking(move || study_context(&bytes, whole)).await.map_err(|e| BuildError::Other(format!("study attributes: {e}")))?;
                if study.is_none() {
                    tracing::warn!(item_id = %item.item_id, "delivery: no study attributes readable from the series' instance; SEG patient attributes left empty");
                }
                study
            }
            _ => None,
        };
        item.series = Some(SeriesRecord { instances: metas, study });
    }
    Ok(item)
}

async fn run(db: &Db, blobs: &BlobStore, keyring: &Keyring, plan: &BuildPlan, stored: &mut Vec<String>) -> Result<(), BuildError> {
    let key = clinlabel_store::keys::data_key(db, keyring, &plan.key_scope).await?;
    let signing = deliveries::signing_key(db, keyring).await?;
    let mut writers = writers_for(&plan.spec.output_formats).map_err(|f| BuildError::Other(format!("no writer for {f}")))?;
    let needs = writers.iter().fold(Needs::default(), |n, w| n.union(w.needs()));
    let mut ids = BlobIds { prefix: plan.delivery_id.clone(), n: 0, stored };
    let mut sinks: Vec<Option<Sink>> = writers
        .iter()
        .map(|w| w.path().map(|path| Sink::open(blobs, &key, ids.next(), path, "export", Some(w.format().to_string()), w.media_type())))
        .collect();
    let mut whole = WholeFiles { files: Vec::new(), paths: sinks.iter().flatten().map(|s| s.file.path.clone()).collect() };
    let ctx = ExportContext {
        delivery_id: plan.delivery_id.clone(),
        project_id: plan.project_id.clone(),
        project_name: plan.project_name.clone(),
        version: plan.version,
        spec_version: plan.spec_version,
        built_at: plan.created_at,
        schema: plan.spec.schema.clone(),
    };
    let questions: Vec<QuestionDef> = plan
        .spec
        .schema
        .questions
        .iter()
        .map(|q| QuestionDef { id: q.id.clone(), text: q.text.clone(), ordinal: q.ordinal, options: q.options.iter().map(|o| (o.id.clone(), o.name.clone())).collect() })
        .collect();
    let mut stats = Stats::new(questions, plan.spec.overlap);
    let mut out = Output::default();
    let werr = |e: clinlabel_delivery::export::ExportError| BuildError::Other(e.to_string());
    for (w, s) in writers.iter_mut().zip(sinks.iter_mut()) {
        w.begin(&ctx, &mut out).map_err(werr)?;
        drain(&mut out, s.as_mut(), &mut whole, blobs, &key, &mut ids, w.format()).await?;
    }
    // The next page is read while this one is written.
    let mut page = deliveries::export_page(db, plan, &None, PAGE).await?;
    while let Some(last) = page.last() {
        let cursor = Some(last.record.item_id.clone());
        let annotated: Vec<ExportItem> = std::mem::take(&mut page).into_iter().filter(|i| !i.record.annotations.is_empty()).collect();
        let write = async {
            for slice in slices(annotated, needs.series) {
                // The slice's series geometry in one query, then the items in
                // order with a few notes / instance headers read ahead.
                let mut by_item: std::collections::HashMap<String, Vec<ExportInstance>> = std::collections::HashMap::new();
                if needs.series {
                    let series: Vec<String> = slice.iter().filter(|i| i.record.kind == "dicom_series").map(|i| i.record.item_id.clone()).collect();
                    for inst in deliveries::export_instances(db, plan, &series).await? {
                        by_item.entry(inst.item_id.clone()).or_default().push(inst);
                    }
                }
                let filled = futures::stream::iter(slice.into_iter().map(|it| {
                    let instances = by_item.remove(&it.record.item_id).unwrap_or_default();
                    fill(blobs, &key, needs, it, instances)
                }))
                .buffered(READ_AHEAD);
                futures::pin_mut!(filled);
                while let Some(item) = filled.try_next().await? {
                    stats.push(&item);
                    for (w, s) in writers.iter_mut().zip(sinks.iter_mut()) {
                        w.item(&item, &mut out).map_err(werr)?;
                        drain(&mut out, s.as_mut(), &mut whole, blobs, &key, &mut ids, w.format()).await?;
                    }
                }
            }
            Ok::<(), BuildError>(())
        };
        let (next, written) = futures::join!(deliveries::export_page(db, plan, &cursor, PAGE), write);
        written?;
        page = next?;
    }
    for (w, s) in writers.iter_mut().zip(sinks.iter_mut()) {
        w.finish(&mut out).map_err(werr)?;
        drain(&mut out, s.as_mut(), &mut whole, blobs, &key, &mut ids, w.format()).await?;
    }
    let mut files = Vec::new();
    for s in sinks.into_iter().flatten() {
        files.push(s.finish().await?);
    }
    files.append(&mut whole.files);
    // The project's audit trail, inside the whole chain up to the build.
    let mut audit = Sink::open(blobs, &key, ids.next(), clinlabel_delivery::AUDIT_PATH.into(), "audit", None, "application/jsonl");
    audit_export(db, &plan.project_id, &plan.audit_head, plan.created_at, &mut audit).await?;
    let audit_file = audit.finish().await?;
    // The report: statistics off the async threads, then both renderings.
    let (items, annotations) = (stats.items(), stats.annotations());
    let rctx = deliveries::report_context(db, plan, items, annotations).await?;
    let (report, html, pdf) = tokio::task::spawn_blocking(move || {
        let report = stats.finish(rctx);
        let html = clinlabel_delivery::report::html::render(&report);
        let pdf = clinlabel_delivery::report::pdf::render(&report);
        (report, html, pdf)
    })
    .await
    .map_err(|e| BuildError::Other(format!("report: {e}")))?;
    for (path, media, bytes) in [(clinlabel_delivery::REPORT_HTML, "text/html; charset=utf-8", html.into_bytes()), (clinlabel_delivery::REPORT_PDF, "application/pdf", pdf)] {
        let mut s = Sink::open(blobs, &key, ids.next(), path.into(), "report", None, media);
        s.write(&bytes).await?;
        files.push(s.finish().await?);
    }
    files.push(audit_file);
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        delivery_id: plan.delivery_id.clone(),
        project_id: plan.project_id.clone(),
        project_name: plan.project_name.clone(),
        version: plan.version,
        spec_version: plan.spec_version,
        built_at: plan.created_at,
        built_by: plan.built_by_name.clone(),
        annotations: annotations as i64,
        items: items as i64,
        audit_head: plan.audit_head.clone(),
        signing_key: signing.public(),
        files: files.iter().map(|f| FileEntry { path: f.path.clone(), size: f.size, sha256: f.sha256.clone(), media_type: f.media_type.clone(), role: f.role.clone(), format: f.format.clone() }).collect(),
    };
    let signed = sign_manifest(&manifest, &signing).map_err(|e| BuildError::Other(e.to_string()))?;
    deliveries::finish_build(db, plan, &files, &manifest, &signed, &report).await?;
    Ok(())
}

/// Writes a project's audit export (header, then the chain up to `head`) into `sink`, page by page.
async fn audit_export(db: &Db, project_id: &str, head: &clinlabel_delivery::manifest::AuditHead, at: i64, sink: &mut Sink) -> Result<(), BuildError> {
    let mut buf = Vec::with_capacity(64 << 10);
    clinlabel_delivery::audit::write_header(
        &clinlabel_delivery::audit::Header { format: clinlabel_delivery::audit::AUDIT_EXPORT_FORMAT.into(), project_id: project_id.into(), exported_at: at, head: head.clone() },
        &mut buf,
    );
    sink.write(&buf).await?;
    let mut after = 0;
    while after < head.seq {
        let page = deliveries::audit_page(db, project_id, after, head.seq, 5000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        buf.clear();
        for l in &page {
            clinlabel_delivery::audit::write_line(l, &mut buf);
        }
        sink.write(&buf).await?;
    }
    Ok(())
}

/// A project's audit export as a stream (the route `GET /projects/{id}/audit.jsonl`).
pub fn audit_stream(db: Db, project_id: String, head: clinlabel_delivery::manifest::AuditHead, at: i64) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let mut header = Vec::new();
    clinlabel_delivery::audit::write_header(
        &clinlabel_delivery::audit::Header { format: clinlabel_delivery::audit::AUDIT_EXPORT_FORMAT.into(), project_id: project_id.clone(), exported_at: at, head: head.clone() },
        &mut header,
    );
    let first = futures::stream::once(async move { Ok(Bytes::from(header)) });
    let rest = futures::stream::try_unfold(0i64, move |after| {
        let (db, project_id, head) = (db.clone(), project_id.clone(), head.clone());
        async move {
            if after >= head.seq {
                return Ok(None);
            }
            let page = deliveries::audit_page(&db, &project_id, after, head.seq, 5000).await.map_err(std::io::Error::other)?;
            let Some(last) = page.last() else { return Ok(None) };
            let next = last.seq;
            let mut buf = Vec::with_capacity(page.len() * 200);
            for l in &page {
                clinlabel_delivery::audit::write_line(l, &mut buf);
            }
            Ok(Some((Bytes::from(buf), next)))
        }
    });
    first.chain(rest)
}

/// The plaintext of `range` of one served file.
pub async fn file_stream(blobs: &BlobStore, key: Option<&DataKey>, f: &ServedFile, range: Range<u64>) -> Result<BlobStream, BlobError> {
    match &f.source {
        FileSource::Bytes(b) => {
            let part = Bytes::copy_from_slice(&b[range.start as usize..range.end as usize]);
            Ok(Box::pin(futures::stream::once(async move { Ok(part) })))
        }
        FileSource::Blob { blob_id, .. } => {
            if range.start >= range.end {
                return Ok(Box::pin(futures::stream::empty()));
            }
            let key = key.ok_or_else(|| BlobError::NotFound(blob_id.clone()))?;
            Ok(blobs.get_range(key, blob_id, range).await?.stream)
        }
    }
}

/// The whole delivery's zip layout: every file under the delivery's folder.
pub fn zip_plan(d: &Download) -> ZipPlan {
    let entries: Vec<ZipEntry> = d.files.iter().map(|f| ZipEntry { path: format!("{}/{}", d.folder, f.path), size: f.size, crc32: f.crc32 }).collect();
    ZipPlan::new(&entries, d.built_at)
}

/// The bytes of `range` of the delivery's zip, streamed from the blobs.
pub fn zip_stream(blobs: BlobStore, key: Option<DataKey>, d: &Download, plan: &ZipPlan, range: Range<u64>) -> BlobStream {
    let files = std::sync::Arc::new(d.files.clone());
    let pieces = plan.pieces(range);
    let s = futures::stream::iter(pieces)
        .then(move |p| {
            let (blobs, key, files) = (blobs.clone(), key.clone(), files.clone());
            async move {
                match p {
                    Piece::Bytes(b) => Ok::<BlobStream, BlobError>(Box::pin(futures::stream::once(async move { Ok(Bytes::from(b)) }))),
                    Piece::File { entry, range } => file_stream(&blobs, key.as_ref(), &files[entry], range).await,
                }
            }
        })
        .try_flatten();
    Box::pin(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, frames: i64) -> ExportItem {
        ExportItem {
            record: ItemRecord {
                item_id: id.into(),
                seq: 0,
                kind: "dicom_series".into(),
                source_file: String::new(),
                byte_start: 0,
                byte_end: 0,
                meta: serde_json::Value::Null,
                annotations: Vec::new(),
                note: None,
                series: None,
            },
            blob_id: String::new(),
            media_type: String::new(),
            frames,
        }
    }

    fn ids(s: &[Vec<ExportItem>]) -> Vec<Vec<&str>> {
        s.iter().map(|v| v.iter().map(|i| i.record.item_id.as_str()).collect()).collect()
    }

    #[test]
    fn a_page_is_cut_into_slices_of_bounded_series_frames() {
        let page = || vec![item("a", 12_000), item("b", 8_000), item("c", 1), item("d", 50_000), item("e", 3)];
        // a + b fill the first slice; c starts the next; d alone exceeds the bound and is its own slice.
        assert_eq!(ids(&slices(page(), true)), [vec!["a", "b"], vec!["c"], vec!["d"], vec!["e"]]);
        // Without a writer that needs the geometry, the page stays whole.
        assert_eq!(ids(&slices(page(), false)), [vec!["a", "b", "c", "d", "e"]]);
        assert!(slices(Vec::new(), true).is_empty());
    }
}
