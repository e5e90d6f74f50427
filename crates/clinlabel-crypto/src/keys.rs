//! Master keys, data keys, key wrapping and the keyring.

use std::collections::BTreeMap;
use std::fmt;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use crate::CryptoError;

/// Length in bytes of every key in this crate (AES-256).
pub const KEY_LEN: usize = 32;

/// Version byte that starts every wrapped data key.
const WRAP_VERSION: u8 = 1;
/// Length of the raw master-key id stored in a wrapped key.
const KEY_ID_LEN: usize = 8;
const TAG_LEN: usize = 16;
/// `version | master key id (8) | nonce (12) | ciphertext (32) | tag (16)`.
pub const WRAPPED_KEY_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN + KEY_LEN + TAG_LEN;
/// Domain-separation label mixed into the AAD of a wrapped key.
const WRAP_LABEL: &[u8] = b"clinlabel data key v1\0";

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // SystemRandom reads the OS CSPRNG (getrandom(2)); it only fails if the
    // kernel has no entropy source at all, in which case nothing is safe.
    SystemRandom::new()
        .fill(&mut out)
        .expect("the operating system's random number generator failed");
    out
}

pub(crate) fn aes_key(bytes: &[u8; KEY_LEN]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32-byte AES-256 key"))
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// A per-project data key. It encrypts blobs (through a per-object key derived
/// from it) and is stored only wrapped by a [`MasterKey`].
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey([u8; KEY_LEN]);

impl DataKey {
    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate() -> DataKey {
        DataKey(random_bytes())
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> DataKey {
        DataKey(bytes)
    }

    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.0
    }

    pub(crate) fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// The installation's key-encryption key. It never encrypts data itself; it
/// wraps [`DataKey`]s.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    bytes: [u8; KEY_LEN],
    id: [u8; KEY_ID_LEN],
}

impl MasterKey {
    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate() -> MasterKey {
        MasterKey::from_bytes(random_bytes())
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> MasterKey {
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        MasterKey { bytes, id }
    }

    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.bytes
    }

    /// Public identifier: hex of the first 8 bytes of SHA-256(key). Safe to
    /// log and to store beside wrapped keys; it does not reveal the key.
    pub fn id(&self) -> String {
        to_hex(&self.id)
    }

    fn aad(id: &[u8; KEY_ID_LEN], scope: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(WRAP_LABEL.len() + 1 + KEY_ID_LEN + scope.len());
        aad.extend_from_slice(WRAP_LABEL);
        aad.push(WRAP_VERSION);
        aad.extend_from_slice(id);
        aad.extend_from_slice(scope.as_bytes());
        aad
    }

    /// Wraps `dk` for `scope` (e.g. the project id). The result
    /// ([`WRAPPED_KEY_LEN`] bytes) names this master key and can only be
    /// unwrapped by this key with the same `scope`.
    pub fn wrap(&self, dk: &DataKey, scope: &str) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = random_bytes();
        let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
        out.push(WRAP_VERSION);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce_bytes);
        let mut body = dk.0.to_vec();
        aes_key(&self.bytes)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(Self::aad(&self.id, scope)),
                &mut body,
            )
            .expect("sealing 32 bytes cannot fail");
        out.extend_from_slice(&body);
        debug_assert_eq!(out.len(), WRAPPED_KEY_LEN);
        out
    }

    /// Unwraps a key made by [`MasterKey::wrap`] with the same scope.
    pub fn unwrap(&self, wrapped: &[u8], scope: &str) -> Result<DataKey, CryptoError> {
        let id = wrapped_key_id_raw(wrapped)?;
        if id != self.id {
            return Err(CryptoError::UnknownMasterKey(to_hex(&id)));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&wrapped[1 + KEY_ID_LEN..1 + KEY_ID_LEN + NONCE_LEN]);
        let mut body = wrapped[1 + KEY_ID_LEN + NONCE_LEN..].to_vec();
        let plain = aes_key(&self.bytes)
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(&self.id, scope)),
                &mut body,
            )
            .map_err(|_| CryptoError::UnwrapFailed)?;
        let mut dk = [0u8; KEY_LEN];
        dk.copy_from_slice(plain);
        Ok(DataKey(dk))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id={}, <redacted>)", self.id())
    }
}

fn wrapped_key_id_raw(wrapped: &[u8]) -> Result<[u8; KEY_ID_LEN], CryptoError> {
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(CryptoError::BadWrappedKey(format!(
            "expected {WRAPPED_KEY_LEN} bytes, got {}",
            wrapped.len()
        )));
    }
    if wrapped[0] != WRAP_VERSION {
        return Err(CryptoError::BadWrappedKey(format!(
            "unsupported version {}",
            wrapped[0]
        )));
    }
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&wrapped[1..1 + KEY_ID_LEN]);
    Ok(id)
}

/// The id ([`MasterKey::id`]) of the master key that wrapped `wrapped`.
pub fn wrapped_key_id(wrapped: &[u8]) -> Result<String, CryptoError> {
    Ok(to_hex(&wrapped_key_id_raw(wrapped)?))
}

/// Several master keys by id: the current one wraps new data keys; older ones
/// stay available to unwrap until every data key has been rewrapped.
#[derive(Clone)]
pub struct Keyring {
    current: MasterKey,
    keys: BTreeMap<String, MasterKey>,
}

impl Keyring {
    pub fn new(current: MasterKey) -> Keyring {
        let mut keys = BTreeMap::new();
        keys.insert(current.id(), current.clone());
        Keyring { current, keys }
    }

    /// Adds an older key (kept for unwrapping only).
    pub fn add(&mut self, key: MasterKey) {
        self.keys.insert(key.id(), key);
    }

    /// Makes `key` current (the previous current key stays for unwrapping).
    pub fn set_current(&mut self, key: MasterKey) {
        self.keys.insert(key.id(), key.clone());
        self.current = key;
    }

    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    pub fn get(&self, id: &str) -> Option<&MasterKey> {
        self.keys.get(id)
    }

    /// Ids of every key held, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// Wraps with the current key.
    pub fn wrap(&self, dk: &DataKey, scope: &str) -> Vec<u8> {
        self.current.wrap(dk, scope)
    }

    /// Unwraps with whichever held key wrapped `wrapped`.
    pub fn unwrap(&self, wrapped: &[u8], scope: &str) -> Result<DataKey, CryptoError> {
        let id = wrapped_key_id(wrapped)?;
        let key = self
            .keys
            .get(&id)
            .ok_or(CryptoError::UnknownMasterKey(id))?;
        key.unwrap(wrapped, scope)
    }

    /// Unwraps with whichever key wrapped it and wraps again with the current
    /// key. Returns `None` if it is already wrapped by the current key.
    pub fn rewrap(&self, wrapped: &[u8], scope: &str) -> Result<Option<Vec<u8>>, CryptoError> {
        if wrapped_key_id(wrapped)? == self.current.id() {
            // Still authenticate it, so a rotation run doubles as a check.
            self.current.unwrap(wrapped, scope)?;
            return Ok(None);
        }
        let dk = self.unwrap(wrapped, scope)?;
        Ok(Some(self.current.wrap(&dk, scope)))
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id())
            .field("ids", &self.ids())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_round_trip() {
        let mk = MasterKey::generate();
        let dk = DataKey::generate();
        let w = mk.wrap(&dk, "project-1");
        assert_eq!(w.len(), WRAPPED_KEY_LEN);
        assert_eq!(mk.unwrap(&w, "project-1").unwrap(), dk);
        assert_eq!(wrapped_key_id(&w).unwrap(), mk.id());
        // Random nonce: wrapping twice differs.
        assert_ne!(w, mk.wrap(&dk, "project-1"));
    }

    #[test]
    fn wrong_scope_or_master_key_fails() {
        let mk = MasterKey::generate();
        let other = MasterKey::generate();
        let dk = DataKey::generate();
        let w = mk.wrap(&dk, "project-1");
        assert!(matches!(
            mk.unwrap(&w, "project-2"),
            Err(CryptoError::UnwrapFailed)
        ));
        assert!(
            matches!(other.unwrap(&w, "project-1"), Err(CryptoError::UnknownMasterKey(id)) if id == mk.id())
        );
        // Same id bytes forged onto a different key's output still fails.
        let mut forged = other.wrap(&dk, "project-1");
        forged[1..9].copy_from_slice(&w[1..9]);
        assert!(matches!(
            mk.unwrap(&forged, "project-1"),
            Err(CryptoError::UnwrapFailed)
        ));
    }

    #[test]
    fn tampered_or_malformed_wrapped_key_fails() {
        let mk = MasterKey::generate();
        let w = mk.wrap(&DataKey::generate(), "s");
        for i in 9..w.len() {
            let mut bad = w.clone();
            bad[i] ^= 0x01;
            assert!(mk.unwrap(&bad, "s").is_err(), "byte {i}");
        }
        assert!(matches!(
            mk.unwrap(&w[..10], "s"),
            Err(CryptoError::BadWrappedKey(_))
        ));
        assert!(matches!(
            mk.unwrap(&[], "s"),
            Err(CryptoError::BadWrappedKey(_))
        ));
        let mut v = w.clone();
        v[0] = 9;
        assert!(matches!(
            mk.unwrap(&v, "s"),
            Err(CryptoError::BadWrappedKey(_))
        ));
    }

    #[test]
    fn keyring_rotation_rewraps() {
        let old = MasterKey::generate();
        let new = MasterKey::generate();
        let dk = DataKey::generate();
        let w_old = old.wrap(&dk, "p");
        let mut ring = Keyring::new(old.clone());
        ring.set_current(new.clone());
        assert_eq!(ring.current().id(), new.id());
        assert!(ring.get(&old.id()).is_some());
        assert_eq!(ring.unwrap(&w_old, "p").unwrap(), dk);
        let w_new = ring.rewrap(&w_old, "p").unwrap().expect("rewrapped");
        assert_eq!(wrapped_key_id(&w_new).unwrap(), new.id());
        assert_eq!(new.unwrap(&w_new, "p").unwrap(), dk);
        assert_eq!(ring.rewrap(&w_new, "p").unwrap(), None);
        assert!(ring.rewrap(&w_old, "other").is_err());
        // A keyring without the old key cannot read it.
        let only_new = Keyring::new(new);
        assert!(matches!(
            only_new.unwrap(&w_old, "p"),
            Err(CryptoError::UnknownMasterKey(_))
        ));
    }

    #[test]
    fn debug_output_has_no_key_bytes() {
        let bytes = [0xABu8; KEY_LEN];
        let mk = MasterKey::from_bytes(bytes);
        let dk = DataKey::from_bytes(bytes);
        let shown = format!("{mk:?} {dk:?} {:?} {:#?}", Keyring::new(mk.clone()), mk);
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        assert!(shown.contains(&mk.id()));
        assert!(shown.contains("redacted"));
        assert_eq!(mk.id().len(), 16);
    }
}
