//! Ed25519 (RFC 8032) signatures of the service, through `ring`.
//!
//! The installation's delivery signing key is a 32-byte seed that the store
//! keeps wrapped by the master key; this module only turns the seed into a
//! key pair, signs, and verifies. Signatures are the raw 64 bytes, so
//! `openssl pkeyutl -verify -rawin` checks them without clinlabel.

use base64::Engine;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow.
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// The service's signing key.
pub struct ServiceKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceKey").field("key_id", &self.public().key_id).finish_non_exhaustive()
    }
}

impl ServiceKey {
    /// The key pair of a 32-byte seed (RFC 8032's private key).
    pub fn from_seed(seed: &[u8; 32]) -> ServiceKey {
        ServiceKey { pair: Ed25519KeyPair::from_seed_unchecked(seed).expect("any 32 bytes are an Ed25519 seed") }
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let sig = self.pair.sign(message);
        let mut out = [0u8; 64];
        out.copy_from_slice(sig.as_ref());
        out
    }

    pub fn public(&self) -> PublicKey {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey::from_raw(raw)
    }
}

/// A public key as published: raw bytes (base64), its id and PEM form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    /// Always `Ed25519`.
    pub algorithm: String,
    /// The 32 raw key bytes, standard base64.
    pub public_key: String,
    /// Hex SHA-256 of the raw key bytes: the key's fingerprint.
    pub key_id: String,
}

impl PublicKey {
    pub fn from_raw(raw: [u8; 32]) -> PublicKey {
        PublicKey { algorithm: "Ed25519".into(), public_key: base64::engine::general_purpose::STANDARD.encode(raw), key_id: hex::encode(Sha256::digest(raw)) }
    }

    /// The raw key bytes, checking that the fields agree with each other.
    pub fn raw(&self) -> Result<[u8; 32], String> {
        if self.algorithm != "Ed25519" {
            return Err(format!("unsupported signature algorithm {:?}", self.algorithm));
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(&self.public_key).map_err(|e| format!("public key is not base64: {e}"))?;
        let raw: [u8; 32] = bytes.try_into().map_err(|_| "an Ed25519 public key has 32 bytes".to_string())?;
        if hex::encode(Sha256::digest(raw)) != self.key_id {
            return Err("key_id is not the SHA-256 of the public key".into());
        }
        Ok(raw)
    }

    /// PEM (SubjectPublicKeyInfo), as `openssl pkey -pubin` reads it.
    pub fn pem(&self) -> String {
        let raw = self.raw().expect("a key made here is consistent");
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&raw);
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", base64::engine::general_purpose::STANDARD.encode(der))
    }

    /// Reads a PEM public key (SubjectPublicKeyInfo of an Ed25519 key).
    pub fn from_pem(pem: &str) -> Result<PublicKey, String> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).map_err(|e| format!("PEM is not base64: {e}"))?;
        if der.len() != 44 || der[..12] != SPKI_PREFIX {
            return Err("not an Ed25519 public key (SubjectPublicKeyInfo)".into());
        }
        let mut raw = [0u8; 32];
        raw.copy_from_slice(&der[12..]);
        Ok(PublicKey::from_raw(raw))
    }

    /// Checks a raw 64-byte signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self.raw() {
            Ok(raw) => UnparsedPublicKey::new(&ED25519, raw).verify(message, signature).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 §7.1, TEST 1: empty message.
        let seed: [u8; 32] = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap().try_into().unwrap();
        let key = ServiceKey::from_seed(&seed);
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(&key.public().public_key).unwrap(), hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap());
        assert_eq!(
            hex::encode(key.sign(b"")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(key.public().verify(b"", &key.sign(b"")));
    }

    #[test]
    fn a_changed_message_or_key_fails() {
        let a = ServiceKey::from_seed(&[7u8; 32]);
        let b = ServiceKey::from_seed(&[8u8; 32]);
        let sig = a.sign(b"manifest");
        assert!(a.public().verify(b"manifest", &sig));
        assert!(!a.public().verify(b"manifesT", &sig));
        assert!(!b.public().verify(b"manifest", &sig));
        assert!(!a.public().verify(b"manifest", &sig[..63]));
    }

    #[test]
    fn pem_round_trips_and_a_forged_key_id_is_refused() {
        let k = ServiceKey::from_seed(&[1u8; 32]).public();
        assert!(k.pem().starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
        assert_eq!(PublicKey::from_pem(&k.pem()).unwrap(), k);
        let mut forged = k.clone();
        forged.key_id = "00".repeat(32);
        assert!(forged.raw().is_err());
    }
}
