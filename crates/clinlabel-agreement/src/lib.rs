//! clinlabel-agreement
