//! A small sequential-DCT JPEG decoder for 12-bit precision (JPEG Extended,
//! Process 2 & 4: SOF0/SOF1 with P = 12, Huffman-coded), which jpeg-decoder does
//! not support. Scope: one component, or three with 1×1 sampling, baseline
//! or extended Huffman tables, restart intervals; output is the reconstructed
//! samples, little-endian `u16`, interleaved. Everything it allocates is bounded
//! by the frame header, which the caller has checked against Rows × Columns.
//!
//! The inverse DCT is the exact floating-point one (ITU-T T.81 A.3.3), so values
//! can differ from libjpeg's integer IDCT by a unit or so — the syntax is lossy.

// Index arithmetic mirrors T.81.
#![allow(clippy::needless_range_loop)]

use crate::error::{DicomError, Result};

const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

fn err(m: impl Into<String>) -> DicomError {
    DicomError::Decode(format!("JPEG 12-bit: {}", m.into()))
}

#[derive(Clone, Default)]
struct Huffman {
    maxcode: [i32; 17],
    valptr: [i32; 17],
    mincode: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Result<Huffman> {
        let mut h = Huffman {
            values,
            ..Default::default()
        };
        let mut code = 0i32;
        let mut k = 0i32;
        for l in 1..=16 {
            let n = counts[l - 1] as i32;
            if n == 0 {
                h.maxcode[l] = -1;
            } else {
                h.valptr[l] = k;
                h.mincode[l] = code;
                code += n;
                k += n;
                h.maxcode[l] = code - 1;
            }
            code <<= 1;
        }
        if k as usize > h.values.len() {
            return Err(err("Huffman table lists more codes than values"));
        }
        Ok(h)
    }
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    n: u32,
    /// A marker was met: the segment ended; further bits read as 0.
    marker: bool,
}

impl Bits<'_> {
    fn bit(&mut self) -> u32 {
        if self.n == 0 {
            let mut byte = 0u8;
            if !self.marker && self.pos < self.data.len() {
                byte = self.data[self.pos];
                if byte == 0xFF {
                    let next = self.data.get(self.pos + 1).copied().unwrap_or(0xD9);
                    if next == 0x00 {
                        self.pos += 2;
                    } else {
                        self.marker = true;
                        byte = 0;
                    }
                } else {
                    self.pos += 1;
                }
            }
            self.acc = byte as u32;
            self.n = 8;
        }
        self.n -= 1;
        (self.acc >> self.n) & 1
    }
    fn bits(&mut self, count: u32) -> i32 {
        let mut v = 0i32;
        for _ in 0..count {
            v = (v << 1) | self.bit() as i32;
        }
        v
    }
    fn decode(&mut self, h: &Huffman) -> Result<u8> {
        let mut code = 0i32;
        for l in 1..=16 {
            code = (code << 1) | self.bit() as i32;
            if h.maxcode[l] >= 0 && code <= h.maxcode[l] {
                let i = (h.valptr[l] + code - h.mincode[l]) as usize;
                return h
                    .values
                    .get(i)
                    .copied()
                    .ok_or_else(|| err("bad Huffman code"));
            }
        }
        Err(err("bad Huffman code"))
    }
    /// Skips to after the next RSTn marker.
    fn restart(&mut self) {
        self.n = 0;
        self.marker = false;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && (0xD0..=0xD7).contains(&self.data[self.pos + 1]) {
                self.pos += 2;
                return;
            }
            self.pos += 1;
        }
    }
}

fn extend(v: i32, t: u32) -> i32 {
    if t == 0 {
        0
    } else if v < (1 << (t - 1)) {
        v - (1 << t) + 1
    } else {
        v
    }
}

struct Component {
    id: u8,
    tq: usize,
    td: usize,
    ta: usize,
}

/// Decodes a 12-bit (or 8-bit) sequential Huffman JPEG: `(width, height,
/// components, samples as little-endian u16, interleaved)`.
pub fn decode(data: &[u8], max_samples: usize) -> Result<(u32, u32, usize, Vec<u8>)> {
    if data.len() < 4 || data[0] != 0xFF || data[1] != 0xD8 {
        return Err(err("no start-of-image marker"));
    }
    let mut qt = [[1u16; 64]; 4];
    let mut dc: [Option<Huffman>; 4] = Default::default();
    let mut ac: [Option<Huffman>; 4] = Default::default();
    let mut frame: Option<(u32, u32, u32, Vec<Component>)> = None;
    let mut restart_interval = 0usize;
    let mut i = 2usize;
    loop {
        while i < data.len() && data[i] != 0xFF {
            i += 1;
        }
        while i < data.len() && data[i] == 0xFF {
            i += 1;
        }
        if i >= data.len() {
            return Err(err("no scan"));
        }
        let marker = data[i];
        i += 1;
        if marker == 0xD9 {
            return Err(err("end of image before a scan"));
        }
        if i + 2 > data.len() {
            return Err(err("truncated marker segment"));
        }
        let len = u16::from_be_bytes([data[i], data[i + 1]]) as usize;
        if len < 2 || i + len > data.len() {
            return Err(err("marker segment runs past the data"));
        }
        let seg = &data[i + 2..i + len];
        i += len;
        match marker {
            0xDB => {
                let mut p = 0;
                while p < seg.len() {
                    let (pq, tq) = ((seg[p] >> 4) as usize, (seg[p] & 15) as usize & 3);
                    p += 1;
                    for k in 0..64 {
                        qt[tq][k] = if pq == 0 {
                            *seg.get(p + k).ok_or_else(|| err("short DQT"))? as u16
                        } else {
                            let b = seg
                                .get(p + 2 * k..p + 2 * k + 2)
                                .ok_or_else(|| err("short DQT"))?;
                            u16::from_be_bytes([b[0], b[1]])
                        };
                    }
                    p += if pq == 0 { 64 } else { 128 };
                }
            }
            0xC4 => {
                let mut p = 0;
                while p + 17 <= seg.len() {
                    let (tc, th) = (seg[p] >> 4, (seg[p] & 15) as usize & 3);
                    let mut counts = [0u8; 16];
                    counts.copy_from_slice(&seg[p + 1..p + 17]);
                    let n: usize = counts.iter().map(|&c| c as usize).sum();
                    let vals = seg
                        .get(p + 17..p + 17 + n)
                        .ok_or_else(|| err("short DHT"))?
                        .to_vec();
                    let h = Huffman::new(&counts, vals)?;
                    if tc == 0 {
                        dc[th] = Some(h);
                    } else {
                        ac[th] = Some(h);
                    }
                    p += 17 + n;
                }
            }
            0xDD => {
                restart_interval =
                    u16::from_be_bytes([*seg.first().unwrap_or(&0), *seg.get(1).unwrap_or(&0)])
                        as usize;
            }
            0xC0 | 0xC1 => {
                if seg.len() < 6 {
                    return Err(err("short frame header"));
                }
                let p = seg[0] as u32;
                let h = u16::from_be_bytes([seg[1], seg[2]]) as u32;
                let w = u16::from_be_bytes([seg[3], seg[4]]) as u32;
                let nf = seg[5] as usize;
                let mut comps = Vec::new();
                for c in 0..nf {
                    let b = seg
                        .get(6 + 3 * c..9 + 3 * c)
                        .ok_or_else(|| err("short frame header"))?;
                    if b[1] != 0x11 {
                        return Err(err("subsampled components are not supported"));
                    }
                    comps.push(Component {
                        id: b[0],
                        tq: (b[2] & 3) as usize,
                        td: 0,
                        ta: 0,
                    });
                }
                if p != 8 && p != 12 {
                    return Err(err(format!("sample precision {p}")));
                }
                if !(nf == 1 || nf == 3) || w == 0 || h == 0 {
                    return Err(err(format!("{nf} components, {w} × {h}")));
                }
                if (w as usize) * (h as usize) * nf > max_samples {
                    return Err(err("frame larger than the image"));
                }
                frame = Some((p, w, h, comps));
            }
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(err(format!(
                    "SOF{} coding is not supported here",
                    marker - 0xC0
                )));
            }
            0xDA => {
                let (p, w, h, mut comps) = frame
                    .take()
                    .ok_or_else(|| err("scan before frame header"))?;
                let ns = *seg.first().ok_or_else(|| err("short scan header"))? as usize;
                if ns != comps.len() {
                    return Err(err("multi-scan images are not supported"));
                }
                for s in 0..ns {
                    let b = seg
                        .get(1 + 2 * s..3 + 2 * s)
                        .ok_or_else(|| err("short scan header"))?;
                    let c = comps
                        .iter_mut()
                        .find(|c| c.id == b[0])
                        .ok_or_else(|| err("unknown scan component"))?;
                    c.td = (b[1] >> 4) as usize & 3;
                    c.ta = (b[1] & 15) as usize & 3;
                }
                return scan(&data[i..], p, w, h, &comps, &qt, &dc, &ac, restart_interval);
            }
            _ => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn scan(
    data: &[u8],
    precision: u32,
    w: u32,
    h: u32,
    comps: &[Component],
    qt: &[[u16; 64]; 4],
    dc: &[Option<Huffman>; 4],
    ac: &[Option<Huffman>; 4],
    restart_interval: usize,
) -> Result<(u32, u32, usize, Vec<u8>)> {
    let nc = comps.len();
    let (bw, bh) = (w.div_ceil(8) as usize, h.div_ceil(8) as usize);
    let mut out = vec![0u8; w as usize * h as usize * nc * 2];
    let mut cos = [[0f64; 8]; 8];
    for (x, row) in cos.iter_mut().enumerate() {
        for (u, v) in row.iter_mut().enumerate() {
            let cu = if u == 0 {
                std::f64::consts::FRAC_1_SQRT_2
            } else {
                1.0
            };
            *v = cu * (((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI) / 16.0).cos() / 2.0;
        }
    }
    let shift = (1i32 << (precision - 1)) as f64;
    let maxv = ((1u32 << precision) - 1) as f64;
    let mut bits = Bits {
        data,
        pos: 0,
        acc: 0,
        n: 0,
        marker: false,
    };
    let mut pred = vec![0i32; nc];
    let mut mcu = 0usize;
    for by in 0..bh {
        for bx in 0..bw {
            if restart_interval > 0 && mcu > 0 && mcu.is_multiple_of(restart_interval) {
                bits.restart();
                pred.iter_mut().for_each(|p| *p = 0);
            }
            mcu += 1;
            for (ci, c) in comps.iter().enumerate() {
                let dct = dc[c.td].as_ref().ok_or_else(|| err("missing DC table"))?;
                let act = ac[c.ta].as_ref().ok_or_else(|| err("missing AC table"))?;
                let q = &qt[c.tq];
                let mut coef = [0f64; 64];
                let t = bits.decode(dct)? as u32;
                if t > 16 {
                    return Err(err("bad DC magnitude"));
                }
                let diff = extend(bits.bits(t), t);
                pred[ci] = pred[ci].wrapping_add(diff);
                coef[0] = pred[ci] as f64 * q[0] as f64;
                let mut k = 1;
                while k < 64 {
                    let rs = bits.decode(act)?;
                    let (r, s) = ((rs >> 4) as usize, (rs & 15) as u32);
                    if s == 0 {
                        if r == 15 {
                            k += 16;
                            continue;
                        }
                        break;
                    }
                    k += r;
                    if k > 63 {
                        return Err(err("AC coefficient index past 63"));
                    }
                    coef[ZIGZAG[k]] = extend(bits.bits(s), s) as f64 * q[k] as f64;
                    k += 1;
                }
                // Separable inverse DCT: rows then columns.
                let mut tmp = [0f64; 64];
                for y in 0..8 {
                    for x in 0..8 {
                        let mut acc = 0.0;
                        for u in 0..8 {
                            acc += cos[x][u] * coef[y * 8 + u];
                        }
                        tmp[y * 8 + x] = acc;
                    }
                }
                for x in 0..8 {
                    for y in 0..8 {
                        let mut acc = 0.0;
                        for v in 0..8 {
                            acc += cos[y][v] * tmp[v * 8 + x];
                        }
                        let (px, py) = (bx * 8 + x, by * 8 + y);
                        if px < w as usize && py < h as usize {
                            let val = (acc + shift).round().clamp(0.0, maxv) as u16;
                            let o = ((py * w as usize + px) * nc + ci) * 2;
                            out[o..o + 2].copy_from_slice(&val.to_le_bytes());
                        }
                    }
                }
            }
        }
    }
    Ok((w, h, nc, out))
}
