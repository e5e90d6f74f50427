//! The master key file: creation, permissions, parsing, atomic replacement.

use std::os::unix::fs::PermissionsExt;

use clinlabel_blob::keyfile::{self, KeyFileError, KeySource};
use clinlabel_crypto::{DataKey, MasterKey, to_hex};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn created_once_with_0600_and_reloaded() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("data/master.key");
    let k1 = keyfile::load_or_create(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, format!("{}\n", to_hex(&k1.to_bytes())));
    let k2 = keyfile::load_or_create(&path).unwrap();
    assert_eq!(k1, k2);
    assert_eq!(keyfile::load(&path).unwrap(), k1);
    // No temporary files are left beside it.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("master.key")]);
}

#[test]
fn concurrent_creators_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("master.key");
    let keys: Vec<MasterKey> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| s.spawn(|| keyfile::load_or_create(&path).unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(keys.iter().all(|k| *k == keys[0]));
}

#[test]
fn loose_permissions_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("master.key");
    keyfile::load_or_create(&path).unwrap();
    for m in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m)).unwrap();
        let e = keyfile::load_or_create(&path).unwrap_err();
        assert!(
            matches!(e, KeyFileError::Permissions { mode, .. } if mode == m),
            "{e}"
        );
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    keyfile::load(&path).unwrap();
}

#[test]
fn malformed_keys_are_refused_without_echo() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("master.key");
    for bad in [
        "",
        "abcd",
        &"a".repeat(63),
        &"a".repeat(65),
        &"z".repeat(64),
        "c2VjcmV0LXZhbHVlCg==",
    ] {
        std::fs::write(&path, bad).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = keyfile::load(&path).unwrap_err();
        assert!(matches!(e, KeyFileError::Malformed { .. }), "{e}");
        if bad.len() > 3 {
            assert!(
                !e.to_string().contains(bad),
                "error echoes the key text: {e}"
            );
        }
    }
    std::fs::create_dir(tmp.path().join("dir.key")).unwrap();
    assert!(keyfile::load(&tmp.path().join("dir.key")).is_err());
}

#[test]
fn key_text_in_hex_or_base64() {
    let k = MasterKey::generate();
    let hex = to_hex(&k.to_bytes());
    assert_eq!(keyfile::parse_key_text(&hex, "t").unwrap(), k);
    assert_eq!(
        keyfile::parse_key_text(&format!("  {}\n", hex.to_uppercase()), "t").unwrap(),
        k
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(k.to_bytes());
    assert_eq!(keyfile::parse_key_text(&b64, "t").unwrap(), k);
    let e = keyfile::parse_key_text("short", keyfile::ENV_VAR)
        .unwrap_err()
        .to_string();
    assert!(e.contains("CLINLABEL_MASTER_KEY"), "{e}");
}

#[test]
fn from_env_or_file_uses_the_file_when_unset() {
    // The variable is not set in the test environment (setting it would race
    // with other tests); parse_key_text covers the environment path.
    if std::env::var_os(keyfile::ENV_VAR).is_some() {
        panic!("unset {} to run the tests", keyfile::ENV_VAR);
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("master.key");
    let (k, src) = keyfile::from_env_or_file(&path).unwrap();
    assert_eq!(src, KeySource::Created(path.clone()));
    let (k2, src) = keyfile::from_env_or_file(&path).unwrap();
    assert_eq!((k2, src), (k, KeySource::File(path)));
}

#[test]
fn rotation_survives_interruption() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("master.key");
    let old = keyfile::load_or_create(&path).unwrap();
    let dk = DataKey::generate();
    let wrapped_old = old.wrap(&dk, "project-1");

    // Steps 1-3 of the documented rotation, "crashing" before step 4.
    let mut ring = keyfile::load_keyring(&path).unwrap();
    let new = MasterKey::generate();
    keyfile::write_atomic(&keyfile::next_path(&path), &new).unwrap();
    assert_eq!(mode(&keyfile::next_path(&path)), 0o600);
    ring.set_current(new.clone());
    let wrapped_new = ring.rewrap(&wrapped_old, "project-1").unwrap().unwrap();

    // After the crash both keys load, so both wrapped forms unwrap.
    let ring = keyfile::load_keyring(&path).unwrap();
    assert_eq!(ring.current(), &old);
    assert_eq!(ring.unwrap(&wrapped_new, "project-1").unwrap(), dk);
    assert_eq!(ring.unwrap(&wrapped_old, "project-1").unwrap(), dk);

    // Step 4.
    keyfile::write_atomic(&path, &new).unwrap();
    std::fs::remove_file(keyfile::next_path(&path)).unwrap();
    assert_eq!(mode(&path), 0o600);
    let ring = keyfile::load_keyring(&path).unwrap();
    assert_eq!(ring.current(), &new);
    assert_eq!(ring.unwrap(&wrapped_new, "project-1").unwrap(), dk);
    assert!(ring.unwrap(&wrapped_old, "project-1").is_err());
}
