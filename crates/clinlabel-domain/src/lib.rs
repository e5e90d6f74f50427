//! clinlabel-domain
