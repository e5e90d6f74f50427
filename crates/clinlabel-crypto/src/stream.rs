//! The chunked blob format (version 1): header, per-object key, chunk framing,
//! incremental encryption/decryption and byte-range arithmetic.

use std::ops::Range;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;

use crate::CryptoError;
use crate::keys::{DataKey, random_bytes};

/// First four bytes of every encrypted object.
pub const MAGIC: [u8; 4] = *b"CLB1";
/// Format version byte written after the magic.
pub const FORMAT_VERSION: u8 = 1;
/// Plaintext bytes per chunk written by [`StreamEncryptor::new`].
pub const CHUNK_SIZE: usize = 1 << 20;
/// Smallest chunk size a header may declare (small sizes exist for tests).
pub const MIN_CHUNK_SIZE: usize = 16;
/// Largest chunk size a header may declare: bounds the memory a hostile
/// header can make a reader allocate.
pub const MAX_CHUNK_SIZE: usize = 8 << 20;
/// AES-GCM tag bytes appended to every chunk.
pub const TAG_LEN: usize = 16;
/// Random per-object salt for the HKDF key derivation.
pub const SALT_LEN: usize = 32;
/// Longest blob id the header can carry (its length is one byte).
pub const MAX_BLOB_ID_LEN: usize = 255;
/// HKDF info string for the per-object key.
pub const HKDF_INFO: &[u8] = b"clinlabel blob v1";
/// Header bytes before the blob id: magic, version, chunk size, salt, id length.
const FIXED_HEADER_LEN: usize = 4 + 1 + 4 + SALT_LEN + 1;

/// Length in bytes of the header of an object stored under `blob_id`.
pub fn header_len(blob_id: &str) -> usize {
    FIXED_HEADER_LEN + blob_id.len()
}

fn check_blob_id(blob_id: &str) -> Result<(), CryptoError> {
    if blob_id.is_empty() || blob_id.len() > MAX_BLOB_ID_LEN {
        return Err(CryptoError::BadBlobId(format!(
            "blob id must be 1 to {MAX_BLOB_ID_LEN} bytes, got {}",
            blob_id.len()
        )));
    }
    Ok(())
}

fn check_chunk_size(chunk_size: usize) -> Result<(), CryptoError> {
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(CryptoError::BadHeader(format!(
            "chunk size {chunk_size} outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}"
        )));
    }
    Ok(())
}

/// A parsed object header. Its bytes are the AAD of every chunk.
#[derive(Clone, Debug)]
pub struct Header {
    bytes: Vec<u8>,
    chunk_size: usize,
}

impl Header {
    fn build(blob_id: &str, chunk_size: usize, salt: [u8; SALT_LEN]) -> Header {
        let mut bytes = Vec::with_capacity(header_len(blob_id));
        bytes.extend_from_slice(&MAGIC);
        bytes.push(FORMAT_VERSION);
        bytes.extend_from_slice(&(chunk_size as u32).to_be_bytes());
        bytes.extend_from_slice(&salt);
        bytes.push(blob_id.len() as u8);
        bytes.extend_from_slice(blob_id.as_bytes());
        Header { bytes, chunk_size }
    }

    /// Parses the header at the start of `buf` (which may hold more bytes
    /// after it) and checks that it names `expected_blob_id`.
    ///
    /// The header is not authenticated by itself: the first chunk's tag
    /// (whose AAD is the header) is what proves it genuine.
    pub fn parse(buf: &[u8], expected_blob_id: &str) -> Result<Header, CryptoError> {
        let need_fixed = FIXED_HEADER_LEN.min(buf.len());
        let fixed = &buf[..need_fixed];
        let m = fixed.len().min(MAGIC.len());
        if fixed[..m] != MAGIC[..m] {
            return Err(CryptoError::BadHeader(
                "not a clinlabel encrypted object (bad magic)".into(),
            ));
        }
        if fixed.len() >= 5 && fixed[4] != FORMAT_VERSION {
            return Err(CryptoError::BadHeader(format!(
                "unsupported format version {}",
                fixed[4]
            )));
        }
        if buf.len() < FIXED_HEADER_LEN {
            return Err(CryptoError::Truncated);
        }
        let chunk_size = u32::from_be_bytes(buf[5..9].try_into().expect("4 bytes")) as usize;
        check_chunk_size(chunk_size)?;
        let id_len = buf[FIXED_HEADER_LEN - 1] as usize;
        if id_len == 0 {
            return Err(CryptoError::BadHeader("empty blob id".into()));
        }
        let total = FIXED_HEADER_LEN + id_len;
        if buf.len() < total {
            if id_len != expected_blob_id.len() {
                return Err(CryptoError::WrongBlob {
                    expected: expected_blob_id.to_owned(),
                    found: format!("<an id of {id_len} bytes>"),
                });
            }
            return Err(CryptoError::Truncated);
        }
        let found = &buf[FIXED_HEADER_LEN..total];
        if found != expected_blob_id.as_bytes() {
            return Err(CryptoError::WrongBlob {
                expected: expected_blob_id.to_owned(),
                found: String::from_utf8_lossy(found)
                    .chars()
                    .take(MAX_BLOB_ID_LEN)
                    .collect(),
            });
        }
        Ok(Header {
            bytes: buf[..total].to_vec(),
            chunk_size,
        })
    }

    /// The header's bytes as stored.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Plaintext bytes per chunk.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    fn salt(&self) -> &[u8] {
        &self.bytes[9..9 + SALT_LEN]
    }
}

/// AES-256-GCM under the per-object key, with the header as AAD.
struct ChunkCipher {
    key: LessSafeKey,
    header: Header,
}

impl ChunkCipher {
    fn new(dk: &DataKey, header: Header) -> ChunkCipher {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, header.salt()).extract(dk.as_bytes());
        let okm = prk
            .expand(&[HKDF_INFO], &AES_256_GCM)
            .expect("HKDF output of 32 bytes");
        let key = LessSafeKey::new(UnboundKey::from(okm));
        ChunkCipher { key, header }
    }

    fn nonce(index: u64, last: bool) -> Result<Nonce, CryptoError> {
        let counter = u32::try_from(index).map_err(|_| CryptoError::TooLarge)?;
        let mut n = [0u8; NONCE_LEN];
        n[7..11].copy_from_slice(&counter.to_be_bytes());
        n[11] = last as u8;
        Ok(Nonce::assume_unique_for_key(n))
    }

    /// Encrypts `buf` in place and appends the tag.
    fn seal(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), CryptoError> {
        let nonce = Self::nonce(index, last)?;
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(self.header.bytes()), buf)
            .map_err(|_| CryptoError::TooLarge)?;
        buf.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Authenticates and decrypts a frame (ciphertext + tag) in place; on
    /// success `frame` is truncated to the plaintext.
    fn open(&self, index: u64, last: bool, frame: &mut Vec<u8>) -> Result<(), CryptoError> {
        if frame.len() < TAG_LEN {
            return Err(CryptoError::Truncated);
        }
        let nonce = Self::nonce(index, last)?;
        // A failed open leaves `frame` scrambled; keep a copy of the final
        // chunk (once per object) to tell truncation from tampering.
        let saved = if last { Some(frame.clone()) } else { None };
        let plain_len = match self
            .key
            .open_in_place(nonce, Aad::from(self.header.bytes()), frame)
        {
            Ok(p) => p.len(),
            Err(_) => return Err(self.classify_failure(index, saved)),
        };
        frame.truncate(plain_len);
        Ok(())
    }

    /// After a failed open: a final chunk that authenticates as a non-final
    /// one means the object was cut at a chunk boundary.
    fn classify_failure(&self, index: u64, saved_final: Option<Vec<u8>>) -> CryptoError {
        if let Some(mut copy) = saved_final
            && let Ok(nonce) = Self::nonce(index, false)
            && self
                .key
                .open_in_place(nonce, Aad::from(self.header.bytes()), &mut copy)
                .is_ok()
        {
            return CryptoError::Truncated;
        }
        CryptoError::Tampered { chunk: index }
    }
}

/// Incremental encryptor: push plaintext in pieces of any size, receive
/// ciphertext frames (the header first, then one frame per full chunk), and
/// call [`finish`](StreamEncryptor::finish) for the final frame. Holds at
/// most one chunk of plaintext. Hashing is separate ([`crate::Sha256Stream`])
/// so that each can be measured, and run, on its own.
pub struct StreamEncryptor {
    cipher: ChunkCipher,
    header_sent: bool,
    chunk_size: usize,
    buf: Vec<u8>,
    index: u64,
    total: u64,
}

impl StreamEncryptor {
    /// Encryptor with the standard 1 MiB chunk size and a fresh random salt.
    pub fn new(key: &DataKey, blob_id: &str) -> Result<StreamEncryptor, CryptoError> {
        Self::with_chunk_size(key, blob_id, CHUNK_SIZE)
    }

    /// Encryptor with another chunk size (tests use small chunks to cover
    /// many-chunk cases cheaply). Readers accept any size in
    /// `MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE` because the header records it.
    pub fn with_chunk_size(
        key: &DataKey,
        blob_id: &str,
        chunk_size: usize,
    ) -> Result<StreamEncryptor, CryptoError> {
        check_blob_id(blob_id)?;
        check_chunk_size(chunk_size)?;
        let header = Header::build(blob_id, chunk_size, random_bytes());
        Ok(StreamEncryptor {
            cipher: ChunkCipher::new(key, header),
            header_sent: false,
            chunk_size,
            buf: Vec::with_capacity(chunk_size + TAG_LEN),
            index: 0,
            total: 0,
        })
    }

    /// The header bytes (also emitted as the first output frame).
    pub fn header(&self) -> &[u8] {
        self.cipher.header.bytes()
    }

    fn emit_header(&mut self, out: &mut Vec<Vec<u8>>) {
        if !self.header_sent {
            self.header_sent = true;
            out.push(self.cipher.header.bytes().to_vec());
        }
    }

    /// Feeds plaintext; returns the ciphertext frames now complete (possibly
    /// none). Fails only when the object would exceed 2^32 chunks.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<Vec<u8>>, CryptoError> {
        let mut out = Vec::new();
        self.emit_header(&mut out);
        self.total += data.len() as u64;
        while !data.is_empty() {
            if self.buf.len() == self.chunk_size {
                // More plaintext follows, so the buffered chunk is not the last.
                let mut frame =
                    std::mem::replace(&mut self.buf, Vec::with_capacity(self.chunk_size + TAG_LEN));
                self.cipher.seal(self.index, false, &mut frame)?;
                self.index += 1;
                out.push(frame);
            }
            let take = (self.chunk_size - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(out)
    }

    /// Plaintext bytes pushed so far.
    pub fn plaintext_len(&self) -> u64 {
        self.total
    }

    /// Seals the buffered plaintext as the final chunk (an empty plaintext
    /// gives one empty final chunk) and returns the remaining frames.
    pub fn finish(mut self) -> Result<Vec<Vec<u8>>, CryptoError> {
        let mut out = Vec::new();
        self.emit_header(&mut out);
        let mut frame = std::mem::take(&mut self.buf);
        self.cipher.seal(self.index, true, &mut frame)?;
        out.push(frame);
        Ok(out)
    }
}

/// Encrypts a whole plaintext held in memory (small data and tests).
pub fn encrypt_all(key: &DataKey, blob_id: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut enc = StreamEncryptor::new(key, blob_id)?;
    let mut out: Vec<u8> = Vec::new();
    for f in enc.push(plaintext)? {
        out.extend_from_slice(&f);
    }
    for f in enc.finish()? {
        out.extend_from_slice(&f);
    }
    Ok(out)
}

/// Decrypts a whole object held in memory.
pub fn decrypt_all(
    key: &DataKey,
    blob_id: &str,
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut dec = StreamDecryptor::new(key, blob_id);
    let mut out = Vec::new();
    for c in dec.push(ciphertext)? {
        out.extend_from_slice(&c);
    }
    out.extend_from_slice(&dec.finish()?);
    Ok(out)
}

enum DecState {
    /// Collecting header bytes.
    Header(Vec<u8>),
    Body(Box<ChunkCipher>),
    Failed,
}

/// Incremental decryptor for a whole object whose length need not be known:
/// push ciphertext in pieces of any size and receive authenticated
/// plaintext, one chunk at a time. A chunk is released only after its tag
/// verified; the final chunk is recognised at [`finish`](Self::finish), which
/// must be called: without it a truncation would go unnoticed. After an error
/// the decryptor refuses further input.
pub struct StreamDecryptor {
    key: DataKey,
    expected_blob_id: String,
    state: DecState,
    frame_len: usize,
    buf: Vec<u8>,
    index: u64,
}

impl StreamDecryptor {
    pub fn new(key: &DataKey, blob_id: &str) -> StreamDecryptor {
        StreamDecryptor {
            key: key.clone(),
            expected_blob_id: blob_id.to_owned(),
            state: DecState::Header(Vec::with_capacity(header_len(blob_id))),
            frame_len: 0,
            buf: Vec::new(),
            index: 0,
        }
    }

    /// Feeds ciphertext; returns the plaintext chunks now authenticated.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, CryptoError> {
        let r = self.push_inner(data);
        if r.is_err() {
            self.state = DecState::Failed;
        }
        r
    }

    fn push_inner(&mut self, mut data: &[u8]) -> Result<Vec<Vec<u8>>, CryptoError> {
        let mut out = Vec::new();
        if let DecState::Header(hbuf) = &mut self.state {
            let want = header_len(&self.expected_blob_id);
            let take = (want - hbuf.len()).min(data.len());
            hbuf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if hbuf.len() < want {
                // Report a wrong magic/version/id length as early as possible.
                match Header::parse(hbuf, &self.expected_blob_id) {
                    Err(CryptoError::Truncated) => return Ok(out),
                    Err(e) => return Err(e),
                    // Cannot happen (a shorter id differs); refuse rather than panic.
                    Ok(_) => {
                        return Err(CryptoError::BadHeader("inconsistent blob id length".into()));
                    }
                }
            }
            let header = Header::parse(hbuf, &self.expected_blob_id)?;
            self.frame_len = header.chunk_size() + TAG_LEN;
            self.buf = Vec::with_capacity(self.frame_len);
            self.state = DecState::Body(Box::new(ChunkCipher::new(&self.key, header)));
        }
        let cipher = match &self.state {
            DecState::Body(c) => c,
            DecState::Failed => return Err(CryptoError::Failed),
            // Still collecting the header: nothing more to do.
            DecState::Header(_) => return Ok(out),
        };
        while !data.is_empty() {
            if self.buf.len() == self.frame_len {
                // Bytes follow this frame, so it is not the final chunk.
                let mut frame =
                    std::mem::replace(&mut self.buf, Vec::with_capacity(self.frame_len));
                cipher.open(self.index, false, &mut frame)?;
                self.index += 1;
                out.push(frame);
            }
            let take = (self.frame_len - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(out)
    }

    /// Ends the object: authenticates the buffered frame as the final chunk
    /// and returns its plaintext.
    pub fn finish(mut self) -> Result<Vec<u8>, CryptoError> {
        match std::mem::replace(&mut self.state, DecState::Failed) {
            DecState::Header(hbuf) => {
                Header::parse(&hbuf, &self.expected_blob_id)?;
                Err(CryptoError::Truncated)
            }
            DecState::Failed => Err(CryptoError::Failed),
            DecState::Body(cipher) => {
                let mut frame = std::mem::take(&mut self.buf);
                cipher.open(self.index, true, &mut frame)?;
                Ok(frame)
            }
        }
    }
}

/// Where each chunk of a stored object lies, computed from its header length,
/// chunk size and total ciphertext length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    header_len: u64,
    chunk_size: u64,
    ciphertext_len: u64,
    plaintext_len: u64,
    chunks: u64,
}

impl Layout {
    /// Fails with [`CryptoError::Truncated`] when no object of this format
    /// can have `ciphertext_len` bytes.
    pub fn new(
        header_len: usize,
        chunk_size: usize,
        ciphertext_len: u64,
    ) -> Result<Layout, CryptoError> {
        check_chunk_size(chunk_size)?;
        let h = header_len as u64;
        let c = chunk_size as u64;
        let t = TAG_LEN as u64;
        let f = c + t;
        let body = ciphertext_len
            .checked_sub(h)
            .ok_or(CryptoError::Truncated)?;
        if body < t {
            return Err(CryptoError::Truncated);
        }
        let full = body / f;
        let rem = body % f;
        let (chunks, plaintext_len) = if rem == 0 {
            (full, full * c)
        } else if rem > t || (rem == t && full == 0) {
            (full + 1, full * c + (rem - t))
        } else {
            // A final frame of 1..=16 bytes, or an empty final chunk after
            // full ones: neither is ever written.
            return Err(CryptoError::Truncated);
        };
        if chunks > u32::MAX as u64 + 1 {
            return Err(CryptoError::TooLarge);
        }
        Ok(Layout {
            header_len: h,
            chunk_size: c,
            ciphertext_len,
            plaintext_len,
            chunks,
        })
    }

    /// The layout of an object with header `header`.
    pub fn for_header(header: &Header, ciphertext_len: u64) -> Result<Layout, CryptoError> {
        Self::new(header.len(), header.chunk_size(), ciphertext_len)
    }

    /// Ciphertext length of a `plaintext_len`-byte plaintext.
    pub fn ciphertext_len_for(header_len: usize, chunk_size: usize, plaintext_len: u64) -> u64 {
        let c = chunk_size as u64;
        let chunks = plaintext_len.div_ceil(c).max(1);
        header_len as u64 + plaintext_len + chunks * TAG_LEN as u64
    }

    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    pub fn ciphertext_len(&self) -> u64 {
        self.ciphertext_len
    }

    pub fn chunk_count(&self) -> u64 {
        self.chunks
    }

    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// Byte range of chunk `index` (ciphertext and tag) within the object.
    pub fn chunk_range(&self, index: u64) -> Range<u64> {
        let f = self.chunk_size + TAG_LEN as u64;
        let start = self.header_len + index * f;
        let end = if index + 1 == self.chunks {
            self.ciphertext_len
        } else {
            start + f
        };
        start..end
    }

    /// The ciphertext to fetch for plaintext bytes `range`
    /// (`start <= end <= plaintext_len`).
    pub fn plan(&self, range: Range<u64>) -> Result<RangePlan, CryptoError> {
        if range.start > range.end || range.end > self.plaintext_len {
            return Err(CryptoError::RangeOutOfBounds {
                start: range.start,
                end: range.end,
                len: self.plaintext_len,
            });
        }
        if range.start == range.end {
            return Ok(RangePlan {
                chunks: 0..0,
                ciphertext: 0..0,
                skip: 0,
                len: 0,
            });
        }
        let first = range.start / self.chunk_size;
        let last = (range.end - 1) / self.chunk_size;
        Ok(RangePlan {
            chunks: first..last + 1,
            ciphertext: self.chunk_range(first).start..self.chunk_range(last).end,
            skip: range.start - first * self.chunk_size,
            len: range.end - range.start,
        })
    }
}

/// What to fetch and keep for a plaintext byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangePlan {
    /// Chunk indices to decrypt (empty for an empty range).
    pub chunks: Range<u64>,
    /// Ciphertext bytes holding those chunks (empty for an empty range).
    pub ciphertext: Range<u64>,
    /// Plaintext bytes to drop from the start of the first chunk.
    pub skip: u64,
    /// Plaintext bytes to return.
    pub len: u64,
}

/// Decrypts the ciphertext bytes of a [`RangePlan`] (pushed in pieces of any
/// size) and yields exactly the requested plaintext bytes.
pub struct RangeDecryptor {
    cipher: ChunkCipher,
    layout: Layout,
    next_chunk: u64,
    end_chunk: u64,
    skip: u64,
    remaining: u64,
    buf: Vec<u8>,
    failed: bool,
}

impl RangeDecryptor {
    /// `header` must come from the same object as `layout`.
    pub fn new(key: &DataKey, header: Header, layout: Layout, plan: &RangePlan) -> RangeDecryptor {
        let first = plan.chunks.start;
        let cap = if plan.chunks.is_empty() {
            0
        } else {
            layout.chunk_range(first).end - layout.chunk_range(first).start
        };
        RangeDecryptor {
            cipher: ChunkCipher::new(key, header),
            layout,
            next_chunk: first,
            end_chunk: plan.chunks.end,
            skip: plan.skip,
            remaining: plan.len,
            buf: Vec::with_capacity(cap as usize),
            failed: false,
        }
    }

    fn frame_len(&self, index: u64) -> usize {
        let r = self.layout.chunk_range(index);
        (r.end - r.start) as usize
    }

    /// Feeds ciphertext from the plan's range; returns plaintext now ready.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<Vec<u8>>, CryptoError> {
        if self.failed {
            return Err(CryptoError::Failed);
        }
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.next_chunk >= self.end_chunk {
                self.failed = true;
                return Err(CryptoError::Tampered {
                    chunk: self.next_chunk,
                });
            }
            let want = self.frame_len(self.next_chunk);
            let take = (want - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == want {
                let index = self.next_chunk;
                let next_cap = if index + 1 < self.end_chunk {
                    self.frame_len(index + 1)
                } else {
                    0
                };
                let mut frame = std::mem::replace(&mut self.buf, Vec::with_capacity(next_cap));
                let last = index + 1 == self.layout.chunk_count();
                if let Err(e) = self.cipher.open(index, last, &mut frame) {
                    self.failed = true;
                    return Err(e);
                }
                self.next_chunk += 1;
                let skip = std::mem::take(&mut self.skip) as usize;
                let keep = (frame.len() - skip.min(frame.len())).min(self.remaining as usize);
                if skip > 0 {
                    frame.drain(..skip.min(frame.len()));
                }
                frame.truncate(keep);
                self.remaining -= keep as u64;
                if !frame.is_empty() {
                    out.push(frame);
                }
            }
        }
        Ok(out)
    }

    /// Checks that every planned chunk arrived.
    pub fn finish(self) -> Result<(), CryptoError> {
        if self.failed {
            return Err(CryptoError::Failed);
        }
        if self.next_chunk != self.end_chunk || self.remaining != 0 {
            return Err(CryptoError::Truncated);
        }
        Ok(())
    }
}
