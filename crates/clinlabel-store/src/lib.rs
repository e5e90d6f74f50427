//! clinlabel-store
