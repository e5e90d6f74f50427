//! The stored form of a release: a small header, then the concepts deflated.
//!
//! ```text
//! file    = "CLTERM1\n" | varint header length | header | deflate(body)
//! header  = str system id | str version | str source | varint concept count
//! body    = varint kind count | str kind ... |
//!           concept ... (in release order)
//! concept = str code | str display | varint kind (0 = none, else 1-based) | u8 flags |
//!           varint synonym count | str synonym ... | varint parent count | varint parent index ...
//! str     = varint byte length | UTF-8
//! flags   = bit 0 active | bit 1 billable known | bit 2 billable
//! ```
//!
//! Parents are indexes into the release order. The header is outside the
//! deflate stream so [`read_header`] can list a file without inflating it.

use crate::{Concept, Error, Release, System};
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use std::collections::HashMap;
use std::io::{Read, Write};

const MAGIC: &[u8; 8] = b"CLTERM1\n";

/// What a stored release says about itself, without its concepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub system: System,
    pub version: String,
    pub source: String,
    pub concepts: u32,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn varint(&mut self) -> Result<u64, Error> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(|| Error::Corrupt("is truncated".into()))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::Corrupt("has an overlong number".into()))
    }
    fn len(&mut self) -> Result<usize, Error> {
        let n = self.varint()? as usize;
        if n > self.buf.len() - self.pos.min(self.buf.len()) {
            return Err(Error::Corrupt("is truncated".into()));
        }
        Ok(n)
    }
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or_else(|| Error::Corrupt("is truncated".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn str(&mut self) -> Result<String, Error> {
        let n = self.len()?;
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| Error::Corrupt("holds text that is not UTF-8".into()))
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.bytes(1)?[0])
    }
}

/// Serialises a release (deflate level 9).
pub fn encode(release: &Release) -> Vec<u8> {
    let mut header = Vec::new();
    put_str(&mut header, release.system.id());
    put_str(&mut header, &release.version);
    put_str(&mut header, &release.source);
    put_varint(&mut header, release.concepts.len() as u64);

    let index: HashMap<&str, usize> = release.concepts.iter().enumerate().map(|(i, c)| (c.code.as_str(), i)).collect();
    let mut kinds: Vec<&str> = Vec::new();
    let mut kind_of: HashMap<&str, usize> = HashMap::new();
    for c in &release.concepts {
        if let Some(k) = &c.kind
            && !kind_of.contains_key(k.as_str())
        {
            kind_of.insert(k, kinds.len() + 1);
            kinds.push(k);
        }
    }
    let mut body = Vec::new();
    put_varint(&mut body, kinds.len() as u64);
    for k in &kinds {
        put_str(&mut body, k);
    }
    for c in &release.concepts {
        put_str(&mut body, &c.code);
        put_str(&mut body, &c.display);
        put_varint(&mut body, c.kind.as_deref().map(|k| kind_of[k]).unwrap_or(0) as u64);
        let flags = u8::from(c.active)
            | match c.billable {
                None => 0,
                Some(false) => 2,
                Some(true) => 6,
            };
        body.push(flags);
        put_varint(&mut body, c.synonyms.len() as u64);
        for s in &c.synonyms {
            put_str(&mut body, s);
        }
        let parents: Vec<usize> = c.parents.iter().filter_map(|p| index.get(p.as_str()).copied()).collect();
        put_varint(&mut body, parents.len() as u64);
        for p in parents {
            put_varint(&mut body, p as u64);
        }
    }
    let mut out = Vec::with_capacity(body.len() / 4);
    out.extend_from_slice(MAGIC);
    put_varint(&mut out, header.len() as u64);
    out.extend_from_slice(&header);
    let mut enc = DeflateEncoder::new(out, Compression::best());
    enc.write_all(&body).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

fn split(bytes: &[u8]) -> Result<(Header, &[u8]), Error> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(Error::Corrupt("is not a clinlabel terminology file".into()));
    }
    let mut c = Cursor { buf: bytes, pos: MAGIC.len() };
    let n = c.len()?;
    let header = c.bytes(n)?;
    let mut h = Cursor { buf: header, pos: 0 };
    let id = h.str()?;
    let system = System::parse(&id).ok_or_else(|| Error::Corrupt(format!("names an unknown system {id:?}")))?;
    let version = h.str()?;
    let source = h.str()?;
    let concepts = u32::try_from(h.varint()?).map_err(|_| Error::Corrupt("claims too many concepts".into()))?;
    Ok((Header { system, version, source, concepts }, &bytes[c.pos..]))
}

/// Reads only the header.
pub fn read_header(bytes: &[u8]) -> Result<Header, Error> {
    Ok(split(bytes)?.0)
}

/// Reads a whole release back.
pub fn decode(bytes: &[u8]) -> Result<Release, Error> {
    let (h, compressed) = split(bytes)?;
    let mut body = Vec::with_capacity(compressed.len() * 5);
    DeflateDecoder::new(compressed).read_to_end(&mut body).map_err(|e| Error::Corrupt(format!("does not inflate: {e}")))?;
    let mut c = Cursor { buf: &body, pos: 0 };
    let nk = c.len()?;
    let mut kinds = Vec::with_capacity(nk);
    for _ in 0..nk {
        kinds.push(c.str()?);
    }
    let n = h.concepts as usize;
    if n > body.len() {
        return Err(Error::Corrupt("claims more concepts than it holds".into()));
    }
    let mut concepts = Vec::with_capacity(n);
    let mut parent_idx: Vec<Vec<usize>> = Vec::with_capacity(n);
    for _ in 0..n {
        let code = c.str()?;
        let display = c.str()?;
        let k = c.varint()? as usize;
        let kind = match k {
            0 => None,
            k => Some(kinds.get(k - 1).cloned().ok_or_else(|| Error::Corrupt("names an unknown kind".into()))?),
        };
        let flags = c.u8()?;
        let ns = c.len()?;
        let mut synonyms = Vec::with_capacity(ns);
        for _ in 0..ns {
            synonyms.push(c.str()?);
        }
        let np = c.len()?;
        let mut ps = Vec::with_capacity(np);
        for _ in 0..np {
            let p = c.varint()? as usize;
            if p >= n {
                return Err(Error::Corrupt("names a parent outside the release".into()));
            }
            ps.push(p);
        }
        parent_idx.push(ps);
        let billable = if flags & 2 != 0 { Some(flags & 4 != 0) } else { None };
        concepts.push(Concept { code, display, synonyms, parents: Vec::new(), active: flags & 1 != 0, billable, kind });
    }
    if c.pos != body.len() {
        return Err(Error::Corrupt("has trailing bytes".into()));
    }
    for (i, ps) in parent_idx.into_iter().enumerate() {
        let parents = ps.into_iter().map(|p| concepts[p].code.clone()).collect();
        concepts[i].parents = parents;
    }
    Ok(Release { system: h.system, version: h.version, source: h.source, concepts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let mut a = Concept::new("E11", "Type 2 diabetes mellitus");
        a.billable = Some(false);
        a.kind = Some("category".into());
        a.synonyms = vec!["Diabetes NOS".into()];
        let mut b = Concept::new("E11.9", "Type 2 diabetes mellitus without complications");
        b.parents = vec!["E11".into()];
        b.billable = Some(true);
        let mut c = Concept::new("X", "Retired é");
        c.active = false;
        let (r, _) = Release::new(System::Icd10cm, "2026", "test", vec![a, b, c]).unwrap();
        let bytes = encode(&r);
        assert_eq!(decode(&bytes).unwrap(), r);
        assert_eq!(read_header(&bytes).unwrap(), Header { system: System::Icd10cm, version: "2026".into(), source: "test".into(), concepts: 3 });
        assert!(decode(&bytes[..bytes.len() - 3]).is_err());
        assert!(decode(b"not a file").is_err());
    }
}
