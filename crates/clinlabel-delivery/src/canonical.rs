//! Canonical JSON: the exact bytes that are hashed and signed.
//!
//! Object keys sorted by their UTF-8 bytes, no insignificant whitespace,
//! strings escaped as serde_json escapes them, integers only (a float in a
//! signed document is refused, since its text form is not canonical across
//! implementations). This is the JSON Canonicalization Scheme (RFC 8785)
//! restricted to integers, so a verifier in any language can re-serialise
//! and compare, although it only needs to hash the file's bytes.

use serde::Serialize;
use serde_json::Value;

/// Why a value cannot be written canonically.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("{0}: a float cannot be written canonically; use an integer or a string")]
    Float(String),
    #[error("cannot serialise: {0}")]
    Serde(String),
}

/// The canonical bytes of any serialisable value.
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let v = serde_json::to_value(value).map_err(|e| CanonicalError::Serde(e.to_string()))?;
    let mut out = Vec::new();
    write(&v, "$", &mut out)?;
    Ok(out)
}

fn write(v: &Value, path: &str, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if n.is_f64() {
                return Err(CanonicalError::Float(path.to_string()));
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Value::String(s) => out.extend_from_slice(serde_json::to_string(s).expect("strings serialise").as_bytes()),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(x, &format!("{path}[{i}]"), out)?;
            }
            out.push(b']');
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(serde_json::to_string(k).expect("strings serialise").as_bytes());
                out.push(b':');
                write(&o[k.as_str()], &format!("{path}.{k}"), out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_whitespace_dropped() {
        let v = json!({ "b": 1, "a": { "z": [1, "x\n\u{e9}"], "y": null }, "A": true });
        assert_eq!(String::from_utf8(to_vec(&v).unwrap()).unwrap(), r#"{"A":true,"a":{"y":null,"z":[1,"x\né"]},"b":1}"#);
    }

    #[test]
    fn floats_are_refused_naming_the_path() {
        let e = to_vec(&json!({ "files": [{ "size": 1.5 }] })).unwrap_err();
        assert_eq!(e, CanonicalError::Float("$.files[0].size".into()));
    }

    #[test]
    fn the_same_value_gives_the_same_bytes_whatever_the_key_order() {
        let a: Value = serde_json::from_str(r#"{"x":1,"y":[{"q":2,"p":3}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "y": [ { "p": 3, "q": 2 } ], "x": 1 }"#).unwrap();
        assert_eq!(to_vec(&a).unwrap(), to_vec(&b).unwrap());
    }
}
