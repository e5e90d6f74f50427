//! clinlabel-blob
