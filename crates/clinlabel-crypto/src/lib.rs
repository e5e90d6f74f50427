//! clinlabel-crypto
