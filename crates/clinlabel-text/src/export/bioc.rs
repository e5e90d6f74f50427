use crate::error::Result;
use crate::model::AnnotatedDocument;
use std::io::BufRead;
pub(crate) struct Reader<R> { _r: R, _name: String }
impl<R: BufRead> Reader<R> { pub(crate) fn new(name: &str, r: R) -> Self { Reader { _r: r, _name: name.into() } } }
impl<R: BufRead> Iterator for Reader<R> { type Item = Result<AnnotatedDocument>; fn next(&mut self) -> Option<Self::Item> { None } }
