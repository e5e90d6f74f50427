//! Wrappers that keep secrets and protected health information out of logs.
//!
//! invariant: a value that is a secret (password, token, key) or may hold PHI
//! travels in [`Secret`] or [`Phi`]; their `Debug` prints a redaction and they
//! have no `Display`, so `tracing` fields and `{:?}` cannot leak them.

use serde::{Deserialize, Deserializer};
use std::fmt;

/// A secret: passwords, session and API tokens, key material.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

/// Protected health information (or anything that may contain it).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Phi<T>(T);

macro_rules! redacting {
    ($ty:ident, $label:literal) => {
        impl<T> $ty<T> {
            pub fn new(value: T) -> Self {
                $ty(value)
            }
            /// Reads the value. Call sites are where a secret is deliberately used.
            pub fn expose(&self) -> &T {
                &self.0
            }
            pub fn into_inner(self) -> T {
                self.0
            }
        }
        impl<T> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($label)
            }
        }
        impl<T> From<T> for $ty<T> {
            fn from(v: T) -> Self {
                $ty(v)
            }
        }
        impl<'de, T: Deserialize<'de>> Deserialize<'de> for $ty<T> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                T::deserialize(d).map($ty)
            }
        }
    };
}

redacting!(Secret, "Secret(<redacted>)");
redacting!(Phi, "Phi(<redacted>)");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Login {
            email: String,
            password: Secret<String>,
            note: Phi<String>,
        }
        let l: Login = serde_json::from_str(r#"{"email":"a@b.c","password":"hunter2hunter2","note":"MRN 12345"}"#).unwrap();
        let shown = format!("{l:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("12345"), "{shown}");
        assert_eq!(l.password.expose(), "hunter2hunter2");
    }
}
