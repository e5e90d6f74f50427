//! clinlabel-server
