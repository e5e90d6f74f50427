//! # clinlabel-crypto
//!
//! Envelope encryption for clinlabel's stored files. Pure computation: no IO,
//! no async; `clinlabel-blob` moves the bytes.
//!
//! ## Keys
//!
//! - A **master key** ([`MasterKey`], 32 bytes) belongs to the installation.
//!   It never encrypts data; it wraps data keys. Its public [`MasterKey::id`]
//!   is the hex of the first 8 bytes of SHA-256(key).
//! - A **data key** ([`DataKey`], 32 bytes) belongs to one project. It is
//!   stored only wrapped: [`MasterKey::wrap`] gives
//!   `version 1 | master key id (8) | random nonce (12) | AES-256-GCM(dk) (32) | tag (16)`
//!   (69 bytes), with AAD = `"clinlabel data key v1\0" | version | id | scope`.
//!   The scope (the project id) binds a wrapped key to its project: moved to
//!   another project's row it does not unwrap.
//! - A **per-object key** is derived for every stored object:
//!   `HKDF-SHA256(ikm = data key, salt = the object's random 32-byte salt,
//!   info = "clinlabel blob v1")`. Because each object has its own key, the
//!   counter nonces below never repeat under one key.
//! - [`Keyring`] holds several master keys by id. Rotation: make the new key
//!   current, [`Keyring::rewrap`] every wrapped data key, then retire the old
//!   key. Objects are not re-encrypted (their data keys do not change).
//!
//! ## Object format, version 1
//!
//! ```text
//! header  = "CLB1" | version u8 = 1 | chunk size u32 BE | salt [32] | id length u8 | blob id
//! body    = frame 0 | frame 1 | ... | frame n-1          (n >= 1)
//! frame i = AES-256-GCM(per-object key, nonce_i, aad = header, plaintext chunk i) | tag [16]
//! nonce_i = 0x00 * 7 | i as u32 BE | (1 if i == n-1 else 0)
//! ```
//!
//! Every chunk except the last holds exactly `chunk size` plaintext bytes
//! ([`CHUNK_SIZE`] = 1 MiB when written by clinlabel); the last holds 1 to
//! `chunk size` bytes, or 0 bytes only when the whole plaintext is empty (an
//! empty plaintext is one empty final chunk). Hence the ciphertext length
//! determines the plaintext length and where every chunk lies ([`Layout`]),
//! and a plaintext byte range maps to a contiguous ciphertext range
//! ([`Layout::plan`]) that decrypts without reading anything else but the header.
//!
//! ## Invariants
//!
//! - Plaintext never leaves this crate except after its chunk's tag verified.
//! - A flipped bit anywhere in a chunk or tag fails that chunk
//!   ([`CryptoError::Tampered`]); in the header it fails parsing
//!   ([`CryptoError::BadHeader`], [`CryptoError::WrongBlob`]) or, since the
//!   header is every chunk's AAD, the first chunk.
//! - Chunks cannot be reordered, dropped or duplicated: the counter is in the
//!   nonce.
//! - Chunks cannot be moved between objects: each object has its own key
//!   (random salt) and its header is every chunk's AAD.
//! - Truncation at a chunk boundary fails: the new last chunk was sealed with
//!   the final flag clear ([`CryptoError::Truncated`]); truncation inside a
//!   chunk fails that chunk's tag.
//! - An object stored under blob id A and presented as blob id B fails
//!   ([`CryptoError::WrongBlob`]) before any chunk is decrypted.
//! - Hostile input yields an error, never a panic; a header cannot make a
//!   reader allocate more than [`MAX_CHUNK_SIZE`] + 16 bytes per chunk.
//! - Key types print redacted in `Debug` and have no `Display`.
//! - The streaming decryptors release plaintext chunk by chunk as each is
//!   authenticated; a consumer must treat an error at any point (including
//!   at `finish`, which detects truncation) as the failure of the whole read.
//!
//! ## Limits
//!
//! At most 2^32 chunks per object (4 PiB at 1 MiB chunks); blob ids of 1 to
//! 255 bytes.

mod hash;
mod keys;
mod stream;

pub use hash::{Sha256Stream, sha256_hex};
pub use keys::{DataKey, KEY_LEN, Keyring, MasterKey, WRAPPED_KEY_LEN, to_hex, wrapped_key_id};
pub use stream::{
    CHUNK_SIZE, FORMAT_VERSION, HKDF_INFO, Header, Layout, MAGIC, MAX_BLOB_ID_LEN, MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE, RangeDecryptor, RangePlan, SALT_LEN, StreamDecryptor, StreamEncryptor, TAG_LEN,
    decrypt_all, encrypt_all, header_len,
};

/// Everything that can go wrong in this crate. Messages name the problem
/// and never contain key material or plaintext.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    #[error(
        "encrypted object chunk {chunk} failed authentication: it was modified, reordered, \
         taken from another object, or the data key is wrong"
    )]
    Tampered { chunk: u64 },
    #[error("encrypted object is truncated (it ends before its final chunk)")]
    Truncated,
    #[error("encrypted object belongs to blob {found:?}, not {expected:?}")]
    WrongBlob { expected: String, found: String },
    #[error("bad encrypted object header: {0}")]
    BadHeader(String),
    #[error("invalid blob id: {0}")]
    BadBlobId(String),
    #[error("no master key with id {0} is loaded")]
    UnknownMasterKey(String),
    #[error("wrapped data key failed authentication: wrong scope or corrupted")]
    UnwrapFailed,
    #[error("malformed wrapped data key: {0}")]
    BadWrappedKey(String),
    #[error("plaintext range {start}..{end} is outside the object's {len} bytes")]
    RangeOutOfBounds { start: u64, end: u64, len: u64 },
    #[error("object too large for the format (more than 2^32 chunks)")]
    TooLarge,
    #[error("decryptor already failed; start a new one")]
    Failed,
}
