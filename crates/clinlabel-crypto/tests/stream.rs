//! Properties of the chunked object format through the public API.

use clinlabel_crypto::*;

/// xorshift64*: cheap deterministic test data and choices.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn encrypt_chunked(key: &DataKey, id: &str, chunk: usize, plain: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut enc = StreamEncryptor::with_chunk_size(key, id, chunk).unwrap();
    let mut out = Vec::new();
    let mut rest = plain;
    // Push in pieces of random sizes to exercise buffering.
    while !rest.is_empty() {
        let n = (1 + rng.below(3 * chunk as u64) as usize).min(rest.len());
        for f in enc.push(&rest[..n]).unwrap() {
            out.extend_from_slice(&f);
        }
        rest = &rest[n..];
    }
    assert_eq!(enc.plaintext_len(), plain.len() as u64);
    for f in enc.finish().unwrap() {
        out.extend_from_slice(&f);
    }
    out
}

fn decrypt_pieces(
    key: &DataKey,
    id: &str,
    ct: &[u8],
    rng: &mut Rng,
) -> Result<Vec<u8>, CryptoError> {
    let mut dec = StreamDecryptor::new(key, id);
    let mut out = Vec::new();
    let mut rest = ct;
    while !rest.is_empty() {
        let n = (1 + rng.below(200_000) as usize).min(rest.len());
        for c in dec.push(&rest[..n])? {
            out.extend_from_slice(&c);
        }
        rest = &rest[n..];
    }
    out.extend_from_slice(&dec.finish()?);
    Ok(out)
}

#[test]
fn round_trip_standard_chunk_sizes() {
    let key = DataKey::generate();
    let mut rng = Rng(1);
    for len in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE,
    ] {
        let plain = rng.bytes(len);
        let ct = encrypt_all(&key, "blob-1", &plain).unwrap();
        assert_eq!(
            ct.len() as u64,
            Layout::ciphertext_len_for(header_len("blob-1"), CHUNK_SIZE, len as u64)
        );
        let layout = Layout::new(header_len("blob-1"), CHUNK_SIZE, ct.len() as u64).unwrap();
        assert_eq!(layout.plaintext_len(), len as u64);
        assert_eq!(
            layout.chunk_count(),
            (len as u64).div_ceil(CHUNK_SIZE as u64).max(1)
        );
        assert_eq!(
            decrypt_all(&key, "blob-1", &ct).unwrap(),
            plain,
            "len {len}"
        );
        assert_eq!(
            decrypt_pieces(&key, "blob-1", &ct, &mut rng).unwrap(),
            plain,
            "len {len}"
        );
        // The plaintext does not appear in the ciphertext.
        if len >= 64 {
            assert!(!ct.windows(64).any(|w| w == &plain[..64]));
        }
    }
}

#[test]
fn round_trip_small_chunks_many_sizes() {
    let key = DataKey::generate();
    let mut rng = Rng(2);
    for chunk in [16usize, 17, 64] {
        for len in 0..(5 * chunk + 3) {
            let plain = rng.bytes(len);
            let ct = encrypt_chunked(&key, "x", chunk, &plain, &mut rng);
            let layout = Layout::new(header_len("x"), chunk, ct.len() as u64).unwrap();
            assert_eq!(layout.plaintext_len(), len as u64);
            assert_eq!(decrypt_pieces(&key, "x", &ct, &mut rng).unwrap(), plain);
        }
    }
}

#[test]
fn same_plaintext_encrypts_differently() {
    let key = DataKey::generate();
    let a = encrypt_all(&key, "b", b"hello").unwrap();
    let b = encrypt_all(&key, "b", b"hello").unwrap();
    assert_ne!(a, b);
}

fn three_chunks(key: &DataKey) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng(3);
    let plain = rng.bytes(3 * 64 - 5);
    let ct = encrypt_chunked(key, "blob-a", 64, &plain, &mut rng);
    (plain, ct)
}

#[test]
fn any_flipped_bit_is_refused() {
    let key = DataKey::generate();
    let (_, ct) = three_chunks(&key);
    let h = header_len("blob-a");
    // Every byte of header, chunk data and tags; a few bit positions each.
    for i in 0..ct.len() {
        for bit in [0u8, 3, 7] {
            let mut bad = ct.clone();
            bad[i] ^= 1 << bit;
            let r = decrypt_all(&key, "blob-a", &bad);
            assert!(r.is_err(), "flipped bit {bit} of byte {i} went unnoticed");
            if i >= h {
                let chunk = ((i - h) / (64 + TAG_LEN)) as u64;
                assert_eq!(r.unwrap_err(), CryptoError::Tampered { chunk }, "byte {i}");
            }
        }
    }
}

#[test]
fn header_damage_gives_clear_errors() {
    let key = DataKey::generate();
    let (_, ct) = three_chunks(&key);
    let mut bad = ct.clone();
    bad[0] = b'X';
    assert!(
        matches!(decrypt_all(&key, "blob-a", &bad), Err(CryptoError::BadHeader(m)) if m.contains("magic"))
    );
    let mut bad = ct.clone();
    bad[4] = 2;
    assert!(
        matches!(decrypt_all(&key, "blob-a", &bad), Err(CryptoError::BadHeader(m)) if m.contains("version"))
    );
    let mut bad = ct.clone();
    bad[5..9].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(
        matches!(decrypt_all(&key, "blob-a", &bad), Err(CryptoError::BadHeader(m)) if m.contains("chunk size"))
    );
    // A salt bit: header parses, first chunk fails.
    let mut bad = ct.clone();
    bad[20] ^= 0x80;
    assert_eq!(
        decrypt_all(&key, "blob-a", &bad),
        Err(CryptoError::Tampered { chunk: 0 })
    );
}

#[test]
fn swapped_or_duplicated_chunks_are_refused() {
    let key = DataKey::generate();
    let (_, ct) = three_chunks(&key);
    let h = header_len("blob-a");
    let f = 64 + TAG_LEN;
    let frame = |i: usize| ct[h + i * f..(h + (i + 1) * f).min(ct.len())].to_vec();
    let header = ct[..h].to_vec();
    let swapped = [header.clone(), frame(1), frame(0), frame(2)].concat();
    assert_eq!(
        decrypt_all(&key, "blob-a", &swapped),
        Err(CryptoError::Tampered { chunk: 0 })
    );
    let dup = [header.clone(), frame(0), frame(0), frame(2)].concat();
    assert_eq!(
        decrypt_all(&key, "blob-a", &dup),
        Err(CryptoError::Tampered { chunk: 1 })
    );
    let dropped = [header.clone(), frame(0), frame(2)].concat();
    assert_eq!(
        decrypt_all(&key, "blob-a", &dropped),
        Err(CryptoError::Tampered { chunk: 1 })
    );
    let extended = [ct.clone(), vec![0u8; 40]].concat();
    assert_eq!(
        decrypt_all(&key, "blob-a", &extended),
        Err(CryptoError::Tampered { chunk: 2 })
    );
}

#[test]
fn chunk_from_another_object_is_refused() {
    let key = DataKey::generate();
    let (_, a) = three_chunks(&key);
    let (_, b) = three_chunks(&key); // same id, same key, different salt
    let h = header_len("blob-a");
    let f = 64 + TAG_LEN;
    let mut mixed = a.clone();
    mixed[h + f..h + 2 * f].copy_from_slice(&b[h + f..h + 2 * f]);
    assert_eq!(
        decrypt_all(&key, "blob-a", &mixed),
        Err(CryptoError::Tampered { chunk: 1 })
    );
    // Header of b with body of a.
    let mut mixed = a.clone();
    mixed[..h].copy_from_slice(&b[..h]);
    assert_eq!(
        decrypt_all(&key, "blob-a", &mixed),
        Err(CryptoError::Tampered { chunk: 0 })
    );
}

#[test]
fn truncation_is_refused() {
    let key = DataKey::generate();
    let (_, ct) = three_chunks(&key);
    let h = header_len("blob-a");
    let f = 64 + TAG_LEN;
    // At chunk boundaries.
    for n in 1..3 {
        assert_eq!(
            decrypt_all(&key, "blob-a", &ct[..h + n * f]),
            Err(CryptoError::Truncated),
            "{n} chunks"
        );
    }
    // Everywhere else (mid-chunk, inside the header, nothing at all).
    for cut in 0..ct.len() {
        assert!(
            decrypt_all(&key, "blob-a", &ct[..cut]).is_err(),
            "cut at {cut}"
        );
        assert!(
            Layout::new(h, 64, cut as u64)
                .map(|l| l.plaintext_len() != 3 * 64 - 5)
                .unwrap_or(true)
        );
    }
    assert_eq!(
        decrypt_all(&key, "blob-a", &[]),
        Err(CryptoError::Truncated)
    );
    // A multi-chunk standard object cut at its first boundary.
    let ct = encrypt_all(&key, "std", &vec![7u8; 2 * CHUNK_SIZE]).unwrap();
    let cut = header_len("std") + CHUNK_SIZE + TAG_LEN;
    assert_eq!(
        decrypt_all(&key, "std", &ct[..cut]),
        Err(CryptoError::Truncated)
    );
}

#[test]
fn wrong_blob_id_or_key_is_refused() {
    let key = DataKey::generate();
    let ct = encrypt_all(&key, "blob-a", b"some clinical note").unwrap();
    assert!(matches!(
        decrypt_all(&key, "blob-b", &ct),
        Err(CryptoError::WrongBlob { expected, found }) if expected == "blob-b" && found == "blob-a"
    ));
    assert!(matches!(
        decrypt_all(&key, "blob-aa", &ct),
        Err(CryptoError::WrongBlob { .. })
    ));
    assert!(matches!(
        decrypt_all(&key, "blob", &ct),
        Err(CryptoError::WrongBlob { .. })
    ));
    assert_eq!(
        decrypt_all(&DataKey::generate(), "blob-a", &ct),
        Err(CryptoError::Tampered { chunk: 0 })
    );
    // Rewriting the id in the header to match is caught by the tag (AAD).
    let mut forged = ct.clone();
    let h = header_len("blob-a");
    forged[h - 1] = b'b';
    assert!(matches!(
        decrypt_all(&key, "blob-a", &forged),
        Err(CryptoError::WrongBlob { .. })
    ));
    assert_eq!(
        decrypt_all(&key, "blob-b", &forged),
        Err(CryptoError::Tampered { chunk: 0 })
    );
    assert!(matches!(
        StreamEncryptor::new(&key, ""),
        Err(CryptoError::BadBlobId(_))
    ));
    assert!(matches!(
        StreamEncryptor::new(&key, &"a".repeat(256)),
        Err(CryptoError::BadBlobId(_))
    ));
}

#[test]
fn decryptor_refuses_input_after_an_error() {
    let key = DataKey::generate();
    let (_, ct) = three_chunks(&key);
    let mut bad = ct.clone();
    let h = header_len("blob-a");
    bad[h + 3] ^= 1;
    let mut dec = StreamDecryptor::new(&key, "blob-a");
    assert!(dec.push(&bad).is_err());
    assert_eq!(dec.push(&ct[..1]), Err(CryptoError::Failed));
    assert_eq!(dec.finish(), Err(CryptoError::Failed));
}

fn read_range(
    key: &DataKey,
    id: &str,
    ct: &[u8],
    range: std::ops::Range<u64>,
    rng: &mut Rng,
) -> Result<Vec<u8>, CryptoError> {
    let header = Header::parse(ct, id)?;
    let layout = Layout::for_header(&header, ct.len() as u64)?;
    let plan = layout.plan(range)?;
    let mut dec = RangeDecryptor::new(key, header, layout, &plan);
    let mut rest = &ct[plan.ciphertext.start as usize..plan.ciphertext.end as usize];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let n = (1 + rng.below(100) as usize).min(rest.len());
        for c in dec.push(&rest[..n])? {
            out.extend_from_slice(&c);
        }
        rest = &rest[n..];
    }
    dec.finish()?;
    Ok(out)
}

#[test]
fn ranges_match_brute_force_slices() {
    let key = DataKey::generate();
    let mut rng = Rng(4);
    for chunk in [16usize, 33, 64] {
        for len in [
            0usize,
            1,
            chunk - 1,
            chunk,
            chunk + 1,
            3 * chunk,
            3 * chunk + 7,
            10 * chunk - 1,
        ] {
            let plain = rng.bytes(len);
            let ct = encrypt_chunked(&key, "r", chunk, &plain, &mut rng);
            for _ in 0..200 {
                let a = rng.below(len as u64 + 1);
                let b = a + rng.below(len as u64 - a + 1);
                let got = read_range(&key, "r", &ct, a..b, &mut rng).unwrap();
                assert_eq!(
                    got,
                    &plain[a as usize..b as usize],
                    "chunk {chunk} len {len} range {a}..{b}"
                );
                // The plan fetches only the chunks that hold the range.
                let layout = Layout::new(header_len("r"), chunk, ct.len() as u64).unwrap();
                let plan = layout.plan(a..b).unwrap();
                if a < b {
                    assert_eq!(plan.chunks, a / chunk as u64..(b - 1) / chunk as u64 + 1);
                    assert_eq!(plan.skip, a % chunk as u64);
                    assert_eq!(plan.len, b - a);
                    assert!(plan.ciphertext.end <= ct.len() as u64);
                } else {
                    assert!(plan.chunks.is_empty() && plan.ciphertext.is_empty());
                }
            }
            assert!(matches!(
                Layout::new(header_len("r"), chunk, ct.len() as u64)
                    .unwrap()
                    .plan(0..len as u64 + 1),
                Err(CryptoError::RangeOutOfBounds { .. })
            ));
        }
    }
}

#[test]
fn range_reads_check_tags_and_final_flag() {
    let key = DataKey::generate();
    let (plain, ct) = three_chunks(&key);
    let mut rng = Rng(5);
    assert_eq!(
        read_range(&key, "blob-a", &ct, 70..150, &mut rng).unwrap(),
        &plain[70..150]
    );
    let mut bad = ct.clone();
    let h = header_len("blob-a");
    bad[h + 64 + TAG_LEN + 5] ^= 4; // chunk 1
    assert_eq!(
        read_range(&key, "blob-a", &bad, 70..150, &mut rng),
        Err(CryptoError::Tampered { chunk: 1 })
    );
    assert_eq!(
        read_range(&key, "blob-a", &bad, 0..10, &mut rng).unwrap(),
        &plain[..10]
    );
    // An object cut at a chunk boundary: its new last chunk is not final.
    let cut = &ct[..h + 2 * (64 + TAG_LEN)];
    assert_eq!(
        read_range(&key, "blob-a", cut, 100..110, &mut rng),
        Err(CryptoError::Truncated)
    );
    // A range reader fed too little fails at finish.
    let header = Header::parse(&ct, "blob-a").unwrap();
    let layout = Layout::for_header(&header, ct.len() as u64).unwrap();
    let plan = layout.plan(0..100).unwrap();
    let mut dec = RangeDecryptor::new(&key, header, layout, &plan);
    dec.push(&ct[plan.ciphertext.start as usize..plan.ciphertext.end as usize - 1])
        .unwrap();
    assert_eq!(dec.finish(), Err(CryptoError::Truncated));
}

#[test]
fn hostile_input_never_panics() {
    let key = DataKey::generate();
    let (_, ct) = three_chunks(&key);
    let mut rng = Rng(6);
    for _ in 0..3000 {
        let mut bad = ct.clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(4) {
                0 if !bad.is_empty() => {
                    let i = rng.below(bad.len() as u64) as usize;
                    bad[i] = rng.next() as u8;
                }
                1 => bad.truncate(rng.below(bad.len() as u64 + 1) as usize),
                2 => {
                    let n = rng.below(100) as usize;
                    bad.extend(rng.bytes(n))
                }
                _ => {
                    let n = rng.below(300) as usize;
                    bad = rng.bytes(n)
                }
            }
        }
        if bad != ct {
            let _ = decrypt_pieces(&key, "blob-a", &bad, &mut rng);
            let _ = read_range(&key, "blob-a", &bad, 0..1, &mut rng);
            let _ = Layout::new(header_len("blob-a"), 64, bad.len() as u64);
        }
    }
}

#[test]
fn byte_at_a_time_feeding() {
    let key = DataKey::generate();
    let (plain, ct) = three_chunks(&key);
    let feed = |ct: &[u8], id: &str| -> Result<Vec<u8>, CryptoError> {
        let mut dec = StreamDecryptor::new(&key, id);
        let mut out = Vec::new();
        for b in ct {
            for c in dec.push(std::slice::from_ref(b))? {
                out.extend_from_slice(&c);
            }
        }
        out.extend_from_slice(&dec.finish()?);
        Ok(out)
    };
    assert_eq!(feed(&ct, "blob-a").unwrap(), plain);
    // Errors in the header surface as soon as the offending byte arrives.
    let mut dec = StreamDecryptor::new(&key, "blob-a");
    assert!(dec.push(b"CL").unwrap().is_empty());
    assert!(matches!(dec.push(b"X"), Err(CryptoError::BadHeader(_))));
    assert!(matches!(
        feed(&ct, "blob-b"),
        Err(CryptoError::WrongBlob { .. })
    ));
    assert!(matches!(
        feed(&ct, "blob-a-longer-id"),
        Err(CryptoError::WrongBlob { .. })
    ));
    assert!(matches!(feed(&ct, "b"), Err(CryptoError::WrongBlob { .. })));
}
