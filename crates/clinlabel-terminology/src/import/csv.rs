//! A small RFC 4180 reader (quoted fields, doubled quotes, line breaks inside
//! quotes), streaming records from a file.

use crate::Error;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Calls `f(record number, fields)` for every record, the header being record 1.
pub(crate) fn for_each_record(path: &Path, mut f: impl FnMut(usize, &[String]) -> Result<(), Error>) -> Result<(), Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field: Vec<u8> = Vec::new();
    let mut n = 0usize;
    let mut physical = 0usize;
    let mut in_quotes = false;
    let mut started = false;
    loop {
        line.clear();
        let read = r.read_until(b'\n', &mut line).map_err(|e| Error::io(path, e))?;
        if read == 0 {
            if in_quotes {
                return Err(Error::Format(format!("{}: line {physical}: a quoted field is not closed", path.display())));
            }
            if started {
                fields.push(take(path, physical, &mut field)?);
                n += 1;
                f(n, &fields)?;
            }
            return Ok(());
        }
        physical += 1;
        let mut bytes: &[u8] = &line;
        if physical == 1 && bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            bytes = &bytes[3..];
        }
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if in_quotes {
                if b == b'"' {
                    if bytes.get(i + 1) == Some(&b'"') {
                        field.push(b'"');
                        i += 1;
                    } else {
                        in_quotes = false;
                    }
                } else {
                    field.push(b);
                }
            } else {
                match b {
                    b'"' if field.is_empty() => in_quotes = true,
                    b',' => fields.push(take(path, physical, &mut field)?),
                    b'\r' if bytes.get(i + 1) == Some(&b'\n') => {}
                    b'\n' => {
                        fields.push(take(path, physical, &mut field)?);
                        n += 1;
                        f(n, &fields)?;
                        fields.clear();
                        started = false;
                        i += 1;
                        continue;
                    }
                    _ => field.push(b),
                }
            }
            started = true;
            i += 1;
        }
    }
}

fn take(path: &Path, line: usize, field: &mut Vec<u8>) -> Result<String, Error> {
    let v = std::mem::take(field);
    String::from_utf8(v).map_err(|e| Error::Format(format!("{}: line {line}: not UTF-8 (byte {})", path.display(), e.utf8_error().valid_up_to() + 1)))
}
