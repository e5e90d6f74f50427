//! Native JSONL: one [`AnnotatedDocument`] per line, exactly as stored
//! (suggestions, their states and the original suggestions included).

use super::{DocWriter, Options, Stats};
use crate::model::AnnotatedDocument;
use std::io::{self, Write};

pub struct Writer<W> {
    out: W,
    stats: Stats,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W, _opts: &Options) -> Self {
        Writer { out, stats: Stats::default() }
    }
}

impl<W: Write> DocWriter for Writer<W> {
    fn write(&mut self, doc: &AnnotatedDocument) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, doc)?;
        self.out.write_all(b"\n")?;
        self.stats.documents += 1;
        self.stats.spans += doc.spans.len();
        self.stats.relations += doc.relations.len();
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> io::Result<Stats> {
        self.out.flush()?;
        self.stats.files = 1;
        Ok(self.stats)
    }
}
