//! COCO's run-length encoding: counts over the mask in **column-major**
//! (Fortran) order, starting with a run of zeros, and the compressed string
//! form of pycocotools' `rleToString` (each count, from the third on, as the
//! difference to the count two before, in 5-bit groups with a continuation
//! bit, offset by 48 into printable ASCII).

/// Run lengths of a row-major 0/1 mask (`rows` × `columns`) in COCO's
/// column-major order, zeros first.
pub fn counts_column_major(mask: &[u8], rows: u32, columns: u32) -> Vec<u32> {
    let (h, w) = (rows as usize, columns as usize);
    let mut runs = Vec::new();
    let (mut cur, mut n) = (0u8, 0u32);
    for c in 0..w {
        for r in 0..h {
            let v = (mask[r * w + c] != 0) as u8;
            if v == cur {
                n += 1;
            } else {
                runs.push(n);
                cur = v;
                n = 1;
            }
        }
    }
    runs.push(n);
    runs
}

/// pycocotools' compressed string of `counts`.
pub fn encode_counts(counts: &[u32]) -> String {
    let mut s = String::with_capacity(counts.len() * 2);
    for (i, &c) in counts.iter().enumerate() {
        let mut x = c as i64;
        if i > 2 {
            x -= counts[i - 2] as i64;
        }
        loop {
            let mut ch = (x & 0x1f) as u8;
            x >>= 5;
            let more = if ch & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                ch |= 0x20;
            }
            s.push((ch + 48) as char);
            if !more {
                break;
            }
        }
    }
    s
}

/// The counts of a compressed string (the inverse of [`encode_counts`]);
/// `None` when the string is not one.
pub fn decode_counts(s: &str) -> Option<Vec<u32>> {
    let b = s.as_bytes();
    let mut out: Vec<i64> = Vec::new();
    let mut p = 0;
    while p < b.len() {
        let (mut x, mut k) = (0i64, 0u32);
        loop {
            let c = b.get(p)?.checked_sub(48)? as i64;
            if k > 12 {
                return None;
            }
            x |= (c & 0x1f) << (5 * k);
            p += 1;
            k += 1;
            if c & 0x20 == 0 {
                if c & 0x10 != 0 {
                    x |= -1i64 << (5 * k);
                }
                break;
            }
        }
        if out.len() > 2 {
            x += out[out.len() - 2];
        }
        out.push(x);
    }
    out.into_iter().map(|v| u32::try_from(v).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_major_counts_start_with_zeros() {
        // 2 rows × 3 columns, row-major:
        // 0 1 1
        // 0 1 0
        // column-major: 0 0 | 1 1 | 1 0 → runs 2 zeros, 3 ones, 1 zero.
        assert_eq!(counts_column_major(&[0, 1, 1, 0, 1, 0], 2, 3), vec![2, 3, 1]);
        assert_eq!(counts_column_major(&[1, 1], 1, 2), vec![0, 2]);
    }

    #[test]
    fn strings_round_trip_including_negative_differences() {
        // pycocotools' own example values: encode([[0,1],[1,1]] fortran) etc. are
        // checked in ci/testdata/imaging.sh against pycocotools itself; here the
        // inverse property on awkward counts (zeros, large, shrinking).
        let cases: Vec<Vec<u32>> = vec![vec![0], vec![5], vec![0, 3], vec![7, 1, 200000, 3, 0, 1], vec![100, 50, 2, 49, 1_000_000]];
        for c in cases {
            let s = encode_counts(&c);
            assert!(s.bytes().all(|b| (48..48 + 64).contains(&b)), "{s}");
            assert_eq!(decode_counts(&s), Some(c));
        }
        assert_eq!(decode_counts("\u{1}"), None);
    }
}
