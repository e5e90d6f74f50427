//! # clinlabel-blob
//!
//! Encrypted blob storage over the `object_store` crate: a local directory by
//! default, any S3-compatible bucket when configured. Every object is written
//! in the chunked AES-256-GCM format of `clinlabel-crypto` (read its crate
//! docs for the byte layout and the cryptographic invariants).
//!
//! ## Where blobs live
//!
//! - `file:///abs/dir` → one file per blob, `<dir>/<blob_id>`, written through
//!   a staging file and an atomic rename, with fsync of the file and directory.
//! - `s3://bucket/optional/prefix` → object `<prefix>/<blob_id>`. Endpoint,
//!   region and credentials come from the usual `AWS_*` environment variables
//!   (`AWS_ENDPOINT_URL` or `AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`).
//!   Requests are path-style unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.
//!
//! ## Invariants
//!
//! - Plaintext is never written anywhere: not to the store, not to a
//!   temporary file. `put` encrypts in memory as the body streams in.
//! - Memory is bounded whatever the blob size: `put` holds at most one 1 MiB
//!   plaintext chunk plus [`PART_SIZE`] × ([`UPLOAD_CONCURRENCY`] + 1) of
//!   ciphertext; `get`/`get_range` hold about one chunk plus what the consumer
//!   has not yet taken.
//! - Objects up to [`PART_SIZE`] are written with one PUT; larger ones with a
//!   multipart upload of [`PART_SIZE`] parts (S3 needs parts ≥ 5 MiB; at most
//!   10,000 parts, so an S3 blob is limited to about 78 GiB). A failed upload
//!   is aborted, and no object appears under the blob id: a blob either
//!   exists complete or not at all.
//! - Blob ids match `[A-Za-z0-9_-]{1,128}` ([`validate_blob_id`]); anything
//!   else is refused before the store is touched, so a path such as `../x`
//!   never reaches it.
//! - The blob id is written into the object header and checked on every
//!   read: an object copied or renamed to another id does not decrypt.
//! - Reads release plaintext only chunk by chunk after authentication. A read
//!   stream that yields an error (tampering, truncation) must be treated as
//!   a failed read as a whole: HTTP handlers abort the response. `get` and
//!   `get_range` authenticate the first chunk before they return, so a wrong
//!   key, a wrong id or a damaged header is an `Err` before any byte is sent.
//! - A range read authenticates exactly the chunks it returns: their bytes
//!   are genuine and at their true offsets, but a range that stops before
//!   the last chunk cannot notice that later chunks were cut off. Full reads,
//!   and range reads that reach the end, detect truncation.
//! - `plaintext_len` and the `total` of a range read come from the object's
//!   header and size, which are authenticated only when a chunk is read.
//! - A process killed during a local multipart upload can leave a staging
//!   file (`<blob_id>#<n>`, ciphertext only) beside the blobs; S3 keeps the
//!   parts of an unfinished multipart upload until a lifecycle rule or an
//!   abort removes them. Neither is ever visible as a blob.

use std::collections::VecDeque;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use clinlabel_crypto::{
    CryptoError, DataKey, Header, Layout, RangeDecryptor, Sha256Stream, StreamDecryptor,
    StreamEncryptor, header_len,
};
use futures::stream::{self, BoxStream, Stream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResult, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload,
    WriteMultipart,
};

pub mod bench;
pub mod keyfile;

/// Size of each multipart-upload part (and the largest object written with
/// a single PUT).
pub const PART_SIZE: usize = 8 << 20;
/// Parts uploaded concurrently by one `put`.
pub const UPLOAD_CONCURRENCY: usize = 2;
/// Longest accepted blob id.
pub const MAX_BLOB_ID_LEN: usize = 128;

/// Errors from [`BlobStore`]. Messages never contain blob contents or keys.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("invalid blob id {0:?}: use 1 to 128 characters from A-Z, a-z, 0-9, '_' and '-'")]
    InvalidBlobId(String),
    #[error("blob {0} not found")]
    NotFound(String),
    #[error(
        "unsupported blob store URL scheme {scheme:?} in {url:?}: use file:///absolute/dir or s3://bucket/prefix"
    )]
    UnsupportedScheme { scheme: String, url: String },
    #[error("invalid blob store URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("blob {blob_id}: {source}")]
    Crypto {
        blob_id: String,
        source: CryptoError,
    },
    #[error("reading the upload body failed: {0}")]
    Body(#[source] std::io::Error),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("creating blob directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl BlobError {
    fn crypto(blob_id: &str, source: CryptoError) -> BlobError {
        BlobError::Crypto {
            blob_id: blob_id.to_owned(),
            source,
        }
    }

    fn store(blob_id: &str, e: object_store::Error) -> BlobError {
        match e {
            object_store::Error::NotFound { .. } => BlobError::NotFound(blob_id.to_owned()),
            other => BlobError::Store(other),
        }
    }

    /// True for tampering, truncation, a wrong id or a wrong key: the stored
    /// bytes are not a genuine object for this id and key.
    pub fn is_integrity_failure(&self) -> bool {
        matches!(self, BlobError::Crypto { .. })
    }
}

/// Checks a blob id against `[A-Za-z0-9_-]{1,128}`.
pub fn validate_blob_id(blob_id: &str) -> Result<(), BlobError> {
    let ok = !blob_id.is_empty()
        && blob_id.len() <= MAX_BLOB_ID_LEN
        && blob_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        let shown: String = blob_id.chars().take(64).collect();
        Err(BlobError::InvalidBlobId(shown))
    }
}

/// What `put` recorded about the plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    /// Plaintext length in bytes.
    pub size: u64,
    /// SHA-256 of the plaintext, lower-case hex.
    pub sha256: String,
    /// Bytes stored (header, ciphertext and tags).
    pub stored_size: u64,
}

/// A stream of authenticated plaintext.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes, BlobError>> + Send + 'static>>;

/// The result of [`BlobStore::get_range`].
pub struct RangeRead {
    /// The plaintext range served (the requested end clamped to the length).
    pub range: Range<u64>,
    /// The blob's whole plaintext length (for `Content-Range`).
    pub total: u64,
    pub stream: BlobStream,
}

impl std::fmt::Debug for RangeRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeRead")
            .field("range", &self.range)
            .field("total", &self.total)
            .finish()
    }
}

/// Encrypted blob storage. Cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: Option<Path>,
    url: String,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore").field("url", &self.url).finish()
    }
}

impl BlobStore {
    /// `file:///abs/dir` (created if missing) or `s3://bucket[/prefix]`.
    pub fn from_url(url: &str) -> Result<BlobStore, BlobError> {
        let invalid = |reason: &str| BlobError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(invalid("expected scheme://…"));
        };
        match scheme {
            "file" => {
                if !rest.starts_with('/') {
                    return Err(invalid(
                        "a file URL needs an absolute path: file:///abs/dir",
                    ));
                }
                if rest.contains(['%', '?', '#']) {
                    return Err(invalid(
                        "percent-escapes, queries and fragments are not supported",
                    ));
                }
                BlobStore::local(FsPath::new(rest))
            }
            "s3" => {
                let (bucket, prefix) = match rest.split_once('/') {
                    Some((b, p)) => (b, p.trim_matches('/')),
                    None => (rest, ""),
                };
                if bucket.is_empty() {
                    return Err(invalid("missing bucket name: s3://bucket/prefix"));
                }
                let store = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()?;
                let prefix = if prefix.is_empty() {
                    None
                } else {
                    Some(Path::parse(prefix).map_err(|e| invalid(&e.to_string()))?)
                };
                Ok(BlobStore {
                    store: Arc::new(store),
                    prefix,
                    url: url.to_owned(),
                })
            }
            other => Err(BlobError::UnsupportedScheme {
                scheme: other.to_owned(),
                url: url.to_owned(),
            }),
        }
    }

    /// Blobs as files in `dir` (created if missing), written durably.
    pub fn local(dir: &FsPath) -> Result<BlobStore, BlobError> {
        std::fs::create_dir_all(dir).map_err(|source| BlobError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(dir)?.with_fsync(true);
        Ok(BlobStore {
            store: Arc::new(store),
            prefix: None,
            url: format!("file://{}", dir.display()),
        })
    }

    /// Over any object store (e.g. `object_store::memory::InMemory` in tests).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Option<Path>, description: &str) -> BlobStore {
        BlobStore {
            store,
            prefix,
            url: description.to_owned(),
        }
    }

    /// The URL (or description) this store was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The path prefix under which blobs are stored (`None`: the root).
    pub fn prefix(&self) -> Option<&Path> {
        self.prefix.as_ref()
    }

    /// The underlying object store (for tests and maintenance tools; bytes
    /// there are ciphertext).
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Where `blob_id` is stored in [`object_store`](Self::object_store).
    pub fn object_path(&self, blob_id: &str) -> Result<Path, BlobError> {
        validate_blob_id(blob_id)?;
        Ok(match &self.prefix {
            Some(p) => p.clone().join(blob_id),
            None => Path::from(blob_id),
        })
    }

    /// Encrypts `body` as it streams in and stores it under `blob_id`,
    /// replacing any blob with that id. Returns the plaintext size and SHA-256.
    pub async fn put<S>(&self, key: &DataKey, blob_id: &str, body: S) -> Result<BlobInfo, BlobError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send,
    {
        let path = self.object_path(blob_id)?;
        let mut enc =
            StreamEncryptor::new(key, blob_id).map_err(|e| BlobError::crypto(blob_id, e))?;
        let mut sink = Uploader {
            store: &*self.store,
            path: &path,
            blob_id,
            pending: Vec::new(),
            pending_len: 0,
            upload: None,
            stored: 0,
        };
        let mut hasher = Sha256Stream::new();
        let mut body = std::pin::pin!(body);
        let result: Result<(), BlobError> = async {
            while let Some(piece) = body.next().await {
                let piece = piece.map_err(BlobError::Body)?;
                hasher.update(&piece);
                let frames = enc
                    .push(&piece)
                    .map_err(|e| BlobError::crypto(blob_id, e))?;
                sink.write(frames).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            sink.abort().await;
            return Err(e);
        }
        let size = enc.plaintext_len();
        let frames = match enc.finish() {
            Ok(v) => v,
            Err(e) => {
                sink.abort().await;
                return Err(BlobError::crypto(blob_id, e));
            }
        };
        if let Err(e) = sink.write(frames).await {
            sink.abort().await;
            return Err(e);
        }
        let stored = sink.finish().await?;
        Ok(BlobInfo {
            size,
            sha256: hasher.finalize_hex(),
            stored_size: stored,
        })
    }

    /// Convenience: `put` of bytes already in memory.
    pub async fn put_bytes(
        &self,
        key: &DataKey,
        blob_id: &str,
        data: Bytes,
    ) -> Result<BlobInfo, BlobError> {
        self.put(key, blob_id, stream::iter([Ok::<_, std::io::Error>(data)]))
            .await
    }

    /// Streams the decrypted blob. The header and first chunk are
    /// authenticated before this returns.
    pub async fn get(&self, key: &DataKey, blob_id: &str) -> Result<BlobStream, BlobError> {
        let path = self.object_path(blob_id)?;
        let res = self
            .store
            .get(&path)
            .await
            .map_err(|e| BlobError::store(blob_id, e))?;
        let dec = Decrypting {
            blob_id: blob_id.to_owned(),
            inner: body_stream(res),
            dec: Some(Dec::Whole(StreamDecryptor::new(key, blob_id))),
            ready: VecDeque::new(),
        };
        dec.primed().await
    }

    /// Reads the whole blob into memory (small blobs only).
    pub async fn get_bytes(&self, key: &DataKey, blob_id: &str) -> Result<Vec<u8>, BlobError> {
        let mut s = self.get(key, blob_id).await?;
        let mut out = Vec::new();
        while let Some(b) = s.next().await {
            out.extend_from_slice(&b?);
        }
        Ok(out)
    }

    /// Reads the stored header and total stored size.
    async fn header(
        &self,
        blob_id: &str,
    ) -> Result<(Path, Header, Layout, Option<String>), BlobError> {
        let path = self.object_path(blob_id)?;
        let h = header_len(blob_id) as u64;
        let opts = GetOptions {
            range: Some(GetRange::Bounded(0..h)),
            ..Default::default()
        };
        let res = match self.store.get_opts(&path, opts).await {
            Ok(r) => r,
            Err(e @ object_store::Error::NotFound { .. }) => {
                return Err(BlobError::store(blob_id, e));
            }
            Err(e) => {
                // A zero-byte object cannot satisfy any range request.
                if let Ok(meta) = self.store.head(&path).await
                    && meta.size == 0
                {
                    return Err(BlobError::crypto(blob_id, CryptoError::Truncated));
                }
                return Err(BlobError::store(blob_id, e));
            }
        };
        let size = res.meta.size;
        let e_tag = res.meta.e_tag.clone();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| BlobError::store(blob_id, e))?;
        let header = Header::parse(&bytes, blob_id).map_err(|e| BlobError::crypto(blob_id, e))?;
        let layout =
            Layout::for_header(&header, size).map_err(|e| BlobError::crypto(blob_id, e))?;
        Ok((path, header, layout, e_tag))
    }

    /// Plaintext length, from the stored header and object size (one small
    /// ranged read; not authenticated until the content is read).
    pub async fn plaintext_len(&self, blob_id: &str) -> Result<u64, BlobError> {
        Ok(self.header(blob_id).await?.2.plaintext_len())
    }

    /// Streams plaintext bytes `range`, reading only the chunks that hold
    /// them. The end is clamped to the blob's length; a start beyond the
    /// length is an error (HTTP 416).
    pub async fn get_range(
        &self,
        key: &DataKey,
        blob_id: &str,
        range: Range<u64>,
    ) -> Result<RangeRead, BlobError> {
        let (path, header, layout, e_tag) = self.header(blob_id).await?;
        let total = layout.plaintext_len();
        let range = range.start..range.end.min(total);
        let plan = layout
            .plan(range.clone())
            .map_err(|e| BlobError::crypto(blob_id, e))?;
        if plan.chunks.is_empty() {
            return Ok(RangeRead {
                range,
                total,
                stream: Box::pin(stream::empty()),
            });
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(plan.ciphertext.clone())),
            // The object must not change between the header read and this one.
            if_match: e_tag,
            ..Default::default()
        };
        let res = self
            .store
            .get_opts(&path, opts)
            .await
            .map_err(|e| BlobError::store(blob_id, e))?;
        let dec = Decrypting {
            blob_id: blob_id.to_owned(),
            inner: body_stream(res),
            dec: Some(Dec::Range(Box::new(RangeDecryptor::new(
                key, header, layout, &plan,
            )))),
            ready: VecDeque::new(),
        };
        Ok(RangeRead {
            range,
            total,
            stream: dec.primed().await?,
        })
    }

    /// Deletes the blob; deleting a missing blob succeeds.
    pub async fn delete(&self, blob_id: &str) -> Result<(), BlobError> {
        let path = self.object_path(blob_id)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::Store(e)),
        }
    }

    pub async fn exists(&self, blob_id: &str) -> Result<bool, BlobError> {
        let path = self.object_path(blob_id)?;
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(BlobError::Store(e)),
        }
    }
}

/// Bytes read per request from a local file (object_store's own file
/// stream reads 8 KiB at a time, one blocking task each, which made local
/// reads several times slower than decryption).
const FILE_READ_SIZE: usize = 1 << 20;

/// The body of a GET as a stream of bytes.
fn body_stream(res: GetResult) -> BoxStream<'static, object_store::Result<Bytes>> {
    match res.payload {
        #[cfg(unix)]
        GetResultPayload::File(file, path) => {
            use std::os::unix::fs::FileExt;
            let file = Arc::new(file);
            let range = res.range;
            stream::try_unfold(range.start, move |pos| {
                let file = Arc::clone(&file);
                let path = path.clone();
                let end = range.end;
                async move {
                    if pos >= end {
                        return Ok(None);
                    }
                    let n = ((end - pos) as usize).min(FILE_READ_SIZE);
                    let read = tokio::task::spawn_blocking(move || {
                        let mut buf = vec![0u8; n];
                        file.read_exact_at(&mut buf, pos).map(|()| buf)
                    })
                    .await;
                    let generic = |source: Box<dyn std::error::Error + Send + Sync>| {
                        object_store::Error::Generic {
                            store: "LocalFileSystem",
                            source,
                        }
                    };
                    match read {
                        Ok(Ok(buf)) => Ok(Some((Bytes::from(buf), pos + n as u64))),
                        Ok(Err(e)) => {
                            Err(generic(format!("reading {}: {e}", path.display()).into()))
                        }
                        Err(e) => Err(generic(Box::new(e))),
                    }
                }
            })
            .boxed()
        }
        _ => res.into_stream(),
    }
}

/// Collects ciphertext frames into one PUT or a multipart upload.
struct Uploader<'a> {
    store: &'a dyn ObjectStore,
    path: &'a Path,
    blob_id: &'a str,
    pending: Vec<Bytes>,
    pending_len: usize,
    upload: Option<WriteMultipart>,
    stored: u64,
}

impl Uploader<'_> {
    async fn write(&mut self, frames: Vec<Vec<u8>>) -> Result<(), BlobError> {
        for frame in frames {
            self.stored += frame.len() as u64;
            let frame = Bytes::from(frame);
            match &mut self.upload {
                Some(w) => {
                    w.wait_for_capacity(UPLOAD_CONCURRENCY)
                        .await
                        .map_err(|e| BlobError::store(self.blob_id, e))?;
                    w.put(frame);
                }
                None => {
                    self.pending_len += frame.len();
                    self.pending.push(frame);
                    if self.pending_len > PART_SIZE {
                        let upload = self
                            .store
                            .put_multipart(self.path)
                            .await
                            .map_err(|e| BlobError::store(self.blob_id, e))?;
                        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
                        for b in self.pending.drain(..) {
                            w.put(b);
                        }
                        self.pending_len = 0;
                        self.upload = Some(w);
                    }
                }
            }
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<u64, BlobError> {
        match self.upload.take() {
            Some(w) => {
                w.finish()
                    .await
                    .map_err(|e| BlobError::store(self.blob_id, e))?;
            }
            None => {
                let payload: PutPayload = std::mem::take(&mut self.pending).into_iter().collect();
                self.store
                    .put(self.path, payload)
                    .await
                    .map_err(|e| BlobError::store(self.blob_id, e))?;
            }
        }
        Ok(self.stored)
    }

    async fn abort(&mut self) {
        if let Some(w) = self.upload.take() {
            // Best effort: the error being returned matters more.
            let _ = w.abort().await;
        }
        self.pending.clear();
    }
}

enum Dec {
    Whole(StreamDecryptor),
    Range(Box<RangeDecryptor>),
}

struct Decrypting {
    blob_id: String,
    inner: BoxStream<'static, object_store::Result<Bytes>>,
    /// `None` once the stream has ended or failed.
    dec: Option<Dec>,
    ready: VecDeque<Vec<u8>>,
}

impl Decrypting {
    /// Next authenticated piece of plaintext, `None` at the verified end.
    async fn next_piece(&mut self) -> Option<Result<Bytes, BlobError>> {
        loop {
            if let Some(p) = self.ready.pop_front() {
                return Some(Ok(Bytes::from(p)));
            }
            let dec = self.dec.as_mut()?;
            let step = match self.inner.next().await {
                Some(Ok(data)) => match dec {
                    Dec::Whole(d) => d.push(&data),
                    Dec::Range(d) => d.push(&data),
                },
                Some(Err(e)) => {
                    self.dec = None;
                    return Some(Err(BlobError::store(&self.blob_id, e)));
                }
                None => match self.dec.take().expect("checked above") {
                    Dec::Whole(d) => d.finish().map(|last| vec![last]),
                    Dec::Range(d) => d.finish().map(|()| Vec::new()),
                },
            };
            match step {
                Ok(pieces) => self
                    .ready
                    .extend(pieces.into_iter().filter(|p| !p.is_empty())),
                Err(e) => {
                    self.dec = None;
                    return Some(Err(BlobError::crypto(&self.blob_id, e)));
                }
            }
        }
    }

    /// Authenticates the first chunk (or the whole object, if it is empty)
    /// so that header, id and key errors surface before streaming starts.
    async fn primed(mut self) -> Result<BlobStream, BlobError> {
        let first = self.next_piece().await.transpose()?;
        let head = stream::iter(first.map(Ok));
        let rest = stream::unfold(
            self,
            |mut s| async move { s.next_piece().await.map(|p| (p, s)) },
        );
        Ok(Box::pin(head.chain(rest)))
    }
}
