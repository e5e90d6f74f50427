//! Streaming SHA-256 of plaintext.

use sha2::{Digest, Sha256};

/// Incremental SHA-256.
#[derive(Clone, Default)]
pub struct Sha256Stream(Sha256);

impl Sha256Stream {
    pub fn new() -> Sha256Stream {
        Sha256Stream(Sha256::new())
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finalize(self) -> [u8; 32] {
        self.0.finalize().into()
    }

    pub fn finalize_hex(self) -> String {
        crate::to_hex(&self.finalize())
    }
}

/// SHA-256 of `data` in lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    let mut h = Sha256Stream::new();
    h.update(data);
    h.finalize_hex()
}
