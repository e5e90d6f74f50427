//! BlobStore behaviour on every backend: the local directory always, S3 when
//! `CLINLABEL_TEST_S3_URL` (and the AWS_* variables) are set.
//!
//! `CLINLABEL_TEST_BACKENDS` (comma list of `local`, `s3`; default both)
//! selects backends. A selected backend that is not configured fails the
//! test: a silently skipped backend would hide defects.

use std::future::Future;
use std::path::{Path as FsPath, PathBuf};

use bytes::Bytes;
use clinlabel_blob::bench::{generated_body, pseudo_random};
use clinlabel_blob::{BlobError, BlobStore};
use clinlabel_crypto::{CHUNK_SIZE, CryptoError, DataKey, TAG_LEN, header_len, sha256_hex, to_hex};
use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutPayload};

struct Ctx {
    backend: &'static str,
    store: BlobStore,
    /// Local backend: the directory holding every stored byte.
    local_dir: Option<PathBuf>,
}

fn unique(tag: &str) -> String {
    format!("{tag}-{}", to_hex(&DataKey::generate().to_bytes()[..6]))
}

/// Runs `body` once per selected backend, each on a fresh empty store.
async fn check<F, Fut>(test: &str, body: F)
where
    F: Fn(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    let selected = std::env::var("CLINLABEL_TEST_BACKENDS").unwrap_or_else(|_| "local,s3".into());
    let mut ran = 0;
    for name in selected.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "local" => {
                let tmp = tempfile::tempdir().unwrap();
                let dir = tmp.path().join("blobs");
                let store = BlobStore::local(&dir).unwrap();
                body(Ctx {
                    backend: "local",
                    store,
                    local_dir: Some(dir),
                })
                .await;
            }
            "s3" => {
                let Ok(base) = std::env::var("CLINLABEL_TEST_S3_URL") else {
                    panic!(
                        "S3 backend selected but CLINLABEL_TEST_S3_URL is not set: run the tests via \
                         `ci/test` (which starts an S3 server), or start one with `eval \"$(ci/s3-server \
                         start DIR PORT)\"`, or set CLINLABEL_TEST_BACKENDS=local to test only the local backend"
                    );
                };
                let url = format!("{}/{}", base.trim_end_matches('/'), unique(test));
                let store = BlobStore::from_url(&url).unwrap();
                body(Ctx {
                    backend: "s3",
                    store,
                    local_dir: None,
                })
                .await;
            }
            other => panic!("unknown backend {other:?} in CLINLABEL_TEST_BACKENDS (use local,s3)"),
        }
        ran += 1;
    }
    assert!(ran > 0, "CLINLABEL_TEST_BACKENDS selected no backend");
}

fn body_of(
    data: &[u8],
    piece: usize,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let pieces: Vec<_> = data
        .chunks(piece.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(pieces)
}

async fn read_all(ctx: &Ctx, key: &DataKey, id: &str) -> Result<Vec<u8>, BlobError> {
    let s = ctx.store.get(key, id).await?;
    let parts: Vec<Bytes> = s.try_collect().await?;
    Ok(parts.concat())
}

async fn read_range(
    ctx: &Ctx,
    key: &DataKey,
    id: &str,
    r: std::ops::Range<u64>,
) -> Result<(std::ops::Range<u64>, u64, Vec<u8>), BlobError> {
    let rr = ctx.store.get_range(key, id, r).await?;
    let parts: Vec<Bytes> = rr.stream.try_collect().await?;
    Ok((rr.range, rr.total, parts.concat()))
}

/// Every byte stored by this backend: each file under the local directory,
/// or each object in the whole bucket (`whole_bucket`) or under this test's
/// prefix.
async fn all_stored_bytes(ctx: &Ctx, whole_bucket: bool) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &FsPath, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    match &ctx.local_dir {
        Some(dir) => walk(dir, &mut out),
        None => {
            let os = ctx.store.object_store();
            let prefix = if whole_bucket {
                None
            } else {
                ctx.store.prefix()
            };
            let metas: Vec<_> = os.list(prefix).try_collect().await.unwrap();
            for m in metas {
                // Tests running in parallel may delete objects meanwhile.
                match os.get(&m.location).await {
                    Ok(r) => out.push((m.location.to_string(), r.bytes().await.unwrap().to_vec())),
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => panic!("get {}: {e}", m.location),
                }
            }
        }
    }
    out
}

/// Substring search through std's optimised `str::contains` (test builds
/// are unoptimised). ASCII needles only: lossy conversion keeps every ASCII
/// byte of `hay`, so no match is lost.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let needle = std::str::from_utf8(needle).expect("ASCII needle");
    String::from_utf8_lossy(hay).contains(needle)
}

#[tokio::test]
async fn round_trip() {
    check("round-trip", |ctx| async move {
        let key = DataKey::generate();
        // Empty, tiny, around the chunk size, and past one upload part (multipart).
        for (i, len) in [0usize, 1, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 500, 20 << 20]
            .into_iter()
            .enumerate()
        {
            let id = format!("rt-{i}");
            let data = pseudo_random(len, i as u64 + 1);
            let info = ctx
                .store
                .put(&key, &id, body_of(&data, 100_003))
                .await
                .unwrap();
            assert_eq!(info.size, len as u64, "{}", ctx.backend);
            assert_eq!(info.sha256, sha256_hex(&data));
            assert_eq!(
                info.stored_size,
                clinlabel_crypto::Layout::ciphertext_len_for(
                    header_len(&id),
                    CHUNK_SIZE,
                    len as u64
                )
            );
            assert!(ctx.store.exists(&id).await.unwrap());
            assert_eq!(ctx.store.plaintext_len(&id).await.unwrap(), len as u64);
            let back = read_all(&ctx, &key, &id).await.unwrap();
            assert!(
                back == data,
                "{} len {len}: round trip differs",
                ctx.backend
            );
        }
        // Overwrite replaces.
        ctx.store
            .put_bytes(&key, "rt-1", Bytes::from_static(b"second version"))
            .await
            .unwrap();
        assert_eq!(
            ctx.store.get_bytes(&key, "rt-1").await.unwrap(),
            b"second version"
        );
        // A body error aborts the upload and leaves no blob.
        let failing = generated_body(12 << 20, 3).chain(stream::iter([Err(
            std::io::Error::other("client went away"),
        )]));
        let err = ctx.store.put(&key, "rt-failed", failing).await.unwrap_err();
        assert!(matches!(err, BlobError::Body(_)), "{err}");
        assert!(!ctx.store.exists("rt-failed").await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn range_reads() {
    check("range", |ctx| async move {
        let key = DataKey::generate();
        let len = 2 * CHUNK_SIZE + CHUNK_SIZE / 2 + 123;
        let data = pseudo_random(len, 9);
        ctx.store
            .put(&key, "r", body_of(&data, 65_536))
            .await
            .unwrap();
        let c = CHUNK_SIZE as u64;
        let l = len as u64;
        let mut ranges = vec![
            0..0,
            0..1,
            0..l,
            c - 1..c + 1,
            c..2 * c,
            2 * c - 5..l,
            l - 1..l,
            l..l,
            17..c * 2 + 99,
        ];
        let mut x = 12345u64;
        for _ in 0..12 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = (x >> 11) % l;
            let b = a + ((x >> 3) % (l - a + 1)).min(300_000);
            ranges.push(a..b);
        }
        for r in ranges {
            let (served, total, got) = read_range(&ctx, &key, "r", r.clone()).await.unwrap();
            assert_eq!(total, l);
            assert_eq!(served, r);
            assert!(
                got == data[r.start as usize..r.end as usize],
                "{} range {r:?}",
                ctx.backend
            );
        }
        // The end is clamped to the length; a start past it is refused.
        let (served, _, got) = read_range(&ctx, &key, "r", l - 10..l + 1000).await.unwrap();
        assert_eq!(served, l - 10..l);
        assert_eq!(got, &data[len - 10..]);
        let err = read_range(&ctx, &key, "r", l + 1..l + 5).await.unwrap_err();
        assert!(
            matches!(
                err,
                BlobError::Crypto {
                    source: CryptoError::RangeOutOfBounds { .. },
                    ..
                }
            ),
            "{err}"
        );
        // Ranges on an empty blob.
        ctx.store
            .put_bytes(&key, "empty", Bytes::new())
            .await
            .unwrap();
        assert_eq!(
            read_range(&ctx, &key, "empty", 0..10).await.unwrap(),
            (0..0, 0, vec![])
        );
    })
    .await;
}

#[tokio::test]
async fn plaintext_never_stored() {
    check("no-plaintext", |ctx| async move {
        let key = DataKey::generate();
        // A distinctive 4 KiB pattern, repeated.
        let marker: Vec<u8> = (0..4096 / 16)
            .flat_map(|i| format!("PHI-MARKER-{i:04x}|").into_bytes())
            .collect();
        assert_eq!(marker.len(), 4096);
        let data: Vec<u8> = marker.iter().copied().cycle().take(12 << 20).collect();
        ctx.store
            .put(&key, "marker-big", body_of(&data, 1 << 20))
            .await
            .unwrap();
        ctx.store
            .put_bytes(&key, "marker-small", Bytes::from(marker.clone()))
            .await
            .unwrap();
        // An upload that fails midway must not leave plaintext behind either.
        let failing =
            body_of(&data, 1 << 20).chain(stream::iter([Err(std::io::Error::other("cut"))]));
        assert!(ctx.store.put(&key, "marker-failed", failing).await.is_err());

        let stored = all_stored_bytes(&ctx, true).await;
        let names: Vec<&str> = stored.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.iter().any(|n| n.ends_with("marker-big")), "{names:?}");
        assert!(
            names.iter().any(|n| n.ends_with("marker-small")),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|n| n.contains("marker-failed")),
            "{names:?}"
        );
        for (name, bytes) in &stored {
            assert!(
                !contains(bytes, b"PHI-MARKER-"),
                "{}: plaintext found in {name}",
                ctx.backend
            );
            assert!(
                !contains(bytes, &marker[100..132]),
                "{}: plaintext found in {name}",
                ctx.backend
            );
        }
        assert_eq!(read_all(&ctx, &key, "marker-big").await.unwrap(), data);
    })
    .await;
}

async fn raw_get(ctx: &Ctx, id: &str) -> Vec<u8> {
    let p = ctx.store.object_path(id).unwrap();
    ctx.store
        .object_store()
        .get(&p)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

async fn raw_put(ctx: &Ctx, id: &str, bytes: Vec<u8>) {
    let p = ctx.store.object_path(id).unwrap();
    ctx.store
        .object_store()
        .put(&p, PutPayload::from(bytes))
        .await
        .unwrap();
}

fn is_integrity(r: &Result<impl std::fmt::Debug, BlobError>) -> bool {
    matches!(r, Err(e) if e.is_integrity_failure())
}

#[tokio::test]
async fn tampering_is_refused() {
    check("tamper", |ctx| async move {
        let key = DataKey::generate();
        let data = pseudo_random(3 * CHUNK_SIZE, 5);
        ctx.store
            .put(&key, "t", body_of(&data, 1 << 20))
            .await
            .unwrap();
        let orig = raw_get(&ctx, "t").await;
        let h = header_len("t");
        let f = CHUNK_SIZE + TAG_LEN;

        // One flipped bit in chunk 1: the whole read fails, ranges over chunk
        // 1 fail, ranges elsewhere still verify.
        let mut bad = orig.clone();
        bad[h + f + 1000] ^= 0x10;
        raw_put(&ctx, "t", bad).await;
        let r = read_all(&ctx, &key, "t").await;
        assert!(
            matches!(
                &r,
                Err(BlobError::Crypto {
                    source: CryptoError::Tampered { chunk: 1 },
                    ..
                })
            ),
            "{r:?}"
        );
        assert!(is_integrity(
            &read_range(&ctx, &key, "t", 5..(CHUNK_SIZE as u64 + 5)).await
        ));
        assert_eq!(
            read_range(&ctx, &key, "t", 0..100).await.unwrap().2,
            &data[..100]
        );

        // A flipped bit in the header or the last tag.
        for pos in [3, h - 2, 20, orig.len() - 1] {
            let mut bad = orig.clone();
            bad[pos] ^= 0x01;
            raw_put(&ctx, "t", bad).await;
            assert!(
                is_integrity(&read_all(&ctx, &key, "t").await),
                "{} byte {pos}",
                ctx.backend
            );
        }

        // Chunks swapped.
        let mut swapped = orig.clone();
        swapped[h..h + f].copy_from_slice(&orig[h + f..h + 2 * f]);
        swapped[h + f..h + 2 * f].copy_from_slice(&orig[h..h + f]);
        raw_put(&ctx, "t", swapped).await;
        assert!(is_integrity(&read_all(&ctx, &key, "t").await));

        // Truncated at a chunk boundary and mid-chunk; emptied.
        for cut in [h + 2 * f, h + f + 10, h + 5, 3, 0] {
            raw_put(&ctx, "t", orig[..cut].to_vec()).await;
            let r = read_all(&ctx, &key, "t").await;
            assert!(is_integrity(&r), "{} cut {cut}: {r:?}", ctx.backend);
            if cut == h + 2 * f {
                assert!(matches!(
                    r,
                    Err(BlobError::Crypto {
                        source: CryptoError::Truncated,
                        ..
                    })
                ));
                // A range over the now-last chunk sees the missing final flag;
                // a range over an earlier, intact chunk still returns its
                // authentic bytes (it cannot know what follows).
                let c = CHUNK_SIZE as u64;
                let r = read_range(&ctx, &key, "t", c..c + 1).await;
                assert!(
                    matches!(
                        r,
                        Err(BlobError::Crypto {
                            source: CryptoError::Truncated,
                            ..
                        })
                    ),
                    "{r:?}"
                );
                assert_eq!(
                    read_range(&ctx, &key, "t", 0..1).await.unwrap().2,
                    &data[..1]
                );
            } else {
                assert!(
                    is_integrity(&read_range(&ctx, &key, "t", 0..1).await),
                    "cut {cut}"
                );
            }
        }

        // Another blob's object presented under this id, and a wrong key.
        raw_put(&ctx, "t", orig.clone()).await;
        ctx.store
            .put_bytes(&key, "other", Bytes::from_static(b"other blob"))
            .await
            .unwrap();
        raw_put(&ctx, "t2", raw_get(&ctx, "other").await).await;
        let r = read_all(&ctx, &key, "t2").await;
        assert!(
            matches!(
                r,
                Err(BlobError::Crypto {
                    source: CryptoError::WrongBlob { .. },
                    ..
                })
            ),
            "{r:?}"
        );
        let r = read_all(&ctx, &DataKey::generate(), "t").await;
        assert!(
            matches!(
                r,
                Err(BlobError::Crypto {
                    source: CryptoError::Tampered { chunk: 0 },
                    ..
                })
            ),
            "{r:?}"
        );
        // Intact again: reads fine.
        assert!(read_all(&ctx, &key, "t").await.unwrap() == data);
    })
    .await;
}

#[tokio::test]
async fn invalid_blob_ids_are_refused() {
    check("ids", |ctx| async move {
        let key = DataKey::generate();
        let long = "a".repeat(129);
        for id in [
            "",
            "../x",
            "a/b",
            "x y",
            "a.b",
            "é",
            "x\0",
            "..",
            "/abs",
            long.as_str(),
        ] {
            let is_invalid =
                |r: Result<(), BlobError>| matches!(r, Err(BlobError::InvalidBlobId(_)));
            assert!(
                is_invalid(
                    ctx.store
                        .put_bytes(&key, id, Bytes::from_static(b"x"))
                        .await
                        .map(|_| ())
                ),
                "put {id:?}"
            );
            assert!(
                is_invalid(ctx.store.get(&key, id).await.map(|_| ())),
                "get {id:?}"
            );
            assert!(
                is_invalid(ctx.store.get_range(&key, id, 0..1).await.map(|_| ())),
                "range {id:?}"
            );
            assert!(
                is_invalid(ctx.store.plaintext_len(id).await.map(|_| ())),
                "len {id:?}"
            );
            assert!(
                is_invalid(ctx.store.exists(id).await.map(|_| ())),
                "exists {id:?}"
            );
            assert!(is_invalid(ctx.store.delete(id).await), "delete {id:?}");
        }
        let msg = ctx.store.get(&key, "../x").await.err().unwrap().to_string();
        assert!(
            msg.contains("invalid blob id") && msg.contains("../x"),
            "{msg}"
        );
        assert!(
            all_stored_bytes(&ctx, false).await.is_empty(),
            "nothing was written"
        );
        // The longest and most varied valid id works.
        let id = format!("{}_-09AZaz", "b".repeat(120));
        ctx.store
            .put_bytes(&key, &id, Bytes::from_static(b"ok"))
            .await
            .unwrap();
        assert_eq!(ctx.store.get_bytes(&key, &id).await.unwrap(), b"ok");
    })
    .await;
}

#[tokio::test]
async fn delete_and_missing_blobs() {
    check("delete", |ctx| async move {
        let key = DataKey::generate();
        ctx.store
            .put_bytes(&key, "d", Bytes::from_static(b"to be deleted"))
            .await
            .unwrap();
        assert!(ctx.store.exists("d").await.unwrap());
        ctx.store.delete("d").await.unwrap();
        assert!(!ctx.store.exists("d").await.unwrap());
        assert!(
            matches!(ctx.store.get(&key, "d").await, Err(BlobError::NotFound(id)) if id == "d")
        );
        assert!(matches!(
            ctx.store.get_range(&key, "d", 0..1).await,
            Err(BlobError::NotFound(_))
        ));
        assert!(matches!(
            ctx.store.plaintext_len("d").await,
            Err(BlobError::NotFound(_))
        ));
        ctx.store.delete("d").await.unwrap();
        ctx.store.delete("never-existed").await.unwrap();
        assert!(all_stored_bytes(&ctx, false).await.is_empty());
    })
    .await;
}

#[test]
fn urls() {
    let e = BlobStore::from_url("ftp://host/x").unwrap_err().to_string();
    assert!(e.contains("\"ftp\""), "{e}");
    assert!(BlobStore::from_url("file://relative/dir").is_err());
    assert!(BlobStore::from_url("no-scheme").is_err());
    assert!(BlobStore::from_url("s3://").is_err());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("made/by/from_url");
    let s = BlobStore::from_url(&format!("file://{}", dir.display())).unwrap();
    assert!(dir.is_dir());
    assert!(s.url().starts_with("file:///"));
    // S3 URLs need no network to parse; the prefix is kept.
    let s3 = BlobStore::from_url("s3://bucket/some/prefix/").unwrap();
    assert_eq!(s3.object_path("b1").unwrap().as_ref(), "some/prefix/b1");
    let s3 = BlobStore::from_url("s3://bucket").unwrap();
    assert_eq!(s3.object_path("b1").unwrap().as_ref(), "b1");
}

#[tokio::test]
async fn cancelled_upload_leaves_no_blob() {
    check("cancel", |ctx| async move {
        let key = DataKey::generate();
        // Overwriting an existing blob: a cancelled upload keeps the old one.
        ctx.store.put_bytes(&key, "c-old", Bytes::from_static(b"old version")).await.unwrap();
        for id in ["c-new", "c-old"] {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let mut tx = Some(tx);
            // 12 MiB (past one upload part, so a multipart upload is under
            // way), then a signal, then a body that never ends.
            let body = generated_body(12 << 20, 8)
                .chain(stream::poll_fn(move |_| {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                    std::task::Poll::Pending
                }));
            tokio::select! {
                r = ctx.store.put(&key, id, body) => panic!("put of an endless body returned {r:?}"),
                _ = rx => {}
            }
        }
        assert!(!ctx.store.exists("c-new").await.unwrap());
        assert_eq!(ctx.store.get_bytes(&key, "c-old").await.unwrap(), b"old version");
    })
    .await;
}
