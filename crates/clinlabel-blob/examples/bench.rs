//! `cargo run --release -p clinlabel-blob --example bench -- [GiB] [store-url]`
//!
//! Prints single-core crypto throughput beside `openssl speed`, then streams
//! a generated blob through put/get (default 1 GiB, local temp dir).

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let gib: f64 = args.next().map(|a| a.parse().expect("GiB")).unwrap_or(1.0);
    let url = args.next();

    // The stream first, so that the peak RSS it reports is its own.
    let tmp;
    let store = match url {
        Some(u) => clinlabel_blob::BlobStore::from_url(&u).expect("store"),
        None => {
            tmp = tempfile::tempdir().expect("tempdir");
            clinlabel_blob::BlobStore::local(tmp.path()).expect("store")
        }
    };
    let size = (gib * (1u64 << 30) as f64) as u64;
    let s = clinlabel_blob::bench::stream_roundtrip(&store, size)
        .await
        .expect("round trip");
    println!(
        "stream {} bytes via {}: put {:.2} s ({:.2} GB/s), get {:.2} s ({:.2} GB/s), peak RSS {:.1} MiB",
        s.bytes,
        store.url(),
        s.encrypt_secs,
        s.bytes as f64 / s.encrypt_secs / 1e9,
        s.decrypt_secs,
        s.bytes as f64 / s.decrypt_secs / 1e9,
        s.peak_rss_bytes.unwrap_or(0) as f64 / (1 << 20) as f64
    );
    let bytes = 4usize << 30;
    let r = clinlabel_blob::bench::crypto_report(bytes);
    let openssl = clinlabel_blob::bench::openssl_aes_gcm_gbps(3);
    println!("encrypt (ring, 1 MiB chunks): {:.2} GB/s", r.encrypt_gbps);
    println!("decrypt:                      {:.2} GB/s", r.decrypt_gbps);
    println!("sha256:                       {:.2} GB/s", r.sha256_gbps);
    println!(
        "encrypt + sha256:             {:.2} GB/s",
        r.encrypt_and_hash_gbps
    );
    match openssl {
        Some(o) => println!(
            "openssl aes-256-gcm:          {o:.2} GB/s  ratio encrypt/openssl {:.2}",
            r.encrypt_gbps / o
        ),
        None => println!("openssl: not available"),
    }
}
