//! # clinlabel-text
//!
//! The IO-free core of clinical text annotation: ingest, the annotation
//! model, pre-annotation (dictionary matching + ConText assertion), exports
//! to the field's formats, and assertion evaluation. Readers take any
//! `std::io::Read` and writers any `Write` or [`export::FileSink`]; the crate
//! opens no files, reads no clock and logs nothing (document text is PHI).
//!
//! ## Offsets
//!
//! Every offset is a **Unicode scalar value (char) offset** of the stored
//! text — CRLF is two chars, a combining accent is its own char, an emoji
//! outside the BMP is one. [`offsets`] converts to and from UTF-8 bytes and
//! UTF-16 units (what the browser counts); [`offsets::OffsetIndex`] does it
//! in O(1)/O(log n) for many spans of one text.
//!
//! ## Ingest ([`ingest`])
//!
//! Plain text (one document per file), JSONL (`{id, text, metadata}` per
//! line; the native format adds spans, relations, classifications), CSV with
//! a chosen text column (other columns become metadata), BioC XML. Input is
//! checked as UTF-8 while it streams: another encoding is refused with the
//! file's name and the byte offset of the first bad byte. CRLF is kept;
//! a leading BOM is dropped. Documents are at most 1 MiB.
//!
//! ## Model ([`model`])
//!
//! [`model::AnnotatedDocument`]: entity spans (label, range, text, assertion
//! present/absent/possible/historical/family_history/hypothetical, codes with
//! system and release version, source suggested/manual, suggestion state
//! pending/accepted/edited/rejected and the original suggestion once
//! edited), relations (type, from, to), document- and sentence-level
//! classifications. `check` holds whatever the project; `validate` checks
//! against the project's `LabelSchema` (clinlabel-domain): entity types,
//! assertion values, the code system bound to each entity type, relation
//! types with allowed head/tail types, questions with their level, kind and
//! options — each problem named by its JSON path.
//!
//! ## Pre-annotation
//!
//! [`phrase`] normalises text and phrases into a token stream (lower case,
//! apostrophes dropped inside words, hyphens as spaces, punctuation as
//! tokens) and runs an anchored leftmost-longest Aho-Corasick automaton at
//! each token start: matches begin and end on word boundaries and the
//! longest wins. [`matcher::Matcher`] builds it from any `(term, label,
//! code?)` list — a lexicon file or a code system's `(code, term)` pairs
//! (`clinlabel_terminology::CodeSystem::terms`) — and proposes spans with
//! candidate codes; a project's lexicon is checked against its schema line
//! by line ([`matcher::check_lexicon`]). [`sentences`] splits clinical notes (abbreviations,
//! decimals, list items, capitalised section headers, wrapped lines).
//! [`context::ConText`] assigns assertions after Harkema et al. 2009:
//! triggers with category and direction, scopes to the sentence end or a
//! termination term, pseudo-triggers, max scopes; the shipped rules
//! (`rules/context.rules`, [`context::DEFAULT_RULES`]) re-express medspaCy
//! 1.3.1's English defaults in clinlabel's own pattern format and add
//! pseudo-triggers and history/hypothetical/family cues.
//! [`preannotate::Preannotator`] puts both together: suggested spans for a
//! document, or the assertion of spans someone marked; it answers the JSONL
//! lines of `clinlabel text preannotate`.
//!
//! ## Exports ([`export`])
//!
//! Native JSONL, BRAT standoff (T/R/A/N lines, char offsets of the `.txt`),
//! BioC XML (CR written as `&#13;` so XML end-of-line normalisation cannot
//! shift offsets), CoNLL-2003 columns with IOB2 tags, spaCy v3 `DocBin`
//! shards (msgpack + zlib written here; MurmurHash64A string hashes), Label
//! Studio JSON export and import (char or UTF-16 offsets detected per span;
//! one task at a time for a project's upload, its results then offered as
//! suggestions).
//! All stream. `tests/field_readers.rs` checks each against the field's
//! reader (bratly, bioc, spaCy, conllu + seqeval, Label Studio's SDK) in the
//! venv `ci/testdata/text.sh` builds.
//!
//! ## Evaluation ([`eval`])
//!
//! Labelled sentence sets (clinlabel's `[[target]]` format — the shipped
//! `data/assertion_sentences.tsv`, 220 self-labelled clinical-style
//! sentences — and the NegEx/ConText test kit's format) and per-class
//! precision/recall; `clinlabel bench text` runs them beside medspaCy.
//!
//! invariant: offsets are chars of the stored text everywhere; conversions
//! that would land inside a character answer `None`, never a moved offset.
//! invariant: exports never include rejected suggestions; pending ones only
//! when asked.
pub mod annotation;
pub mod context;
pub mod error;
pub mod eval;
pub mod export;
pub mod ingest;
pub mod matcher;
pub mod model;
pub mod offsets;
pub mod phrase;
pub mod preannotate;
pub mod qa;
pub mod sentences;
pub mod tokenize;
pub use error::{Result, TextError};
