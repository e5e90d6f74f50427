//! clinlabel's integration tests, in one binary: the store on SQLite and
//! PostgreSQL, the HTTP application through `oneshot`, and the real
//! `clinlabel` binary. Run them with `./ci/test`, which starts PostgreSQL.

mod audit;
mod auth;
mod cli;
mod deliveries;
mod delivery_formats;
mod imaging;
mod keys;
mod projects;
mod roles;
mod tracks;
mod support;
mod tasks;
mod terminology;
mod text;
mod text_import;
mod text_ingest;
mod uploads;
mod text_qa;
