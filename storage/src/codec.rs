//! How the domain's records and events are encoded as bytes: the stored
//! format of values, with a version so that it can move.
//!
//! - **v2** (written now): the byte `0xC1`, the version byte `2`, then
//!   MessagePack with field names. `0xC1` is the one byte MessagePack never
//!   uses and no JSON text starts with, so a value says which version it is.
//!   Field names keep the encoding self-describing: a field added later reads
//!   as its default in older values, serde's tagged enums work, and any value
//!   converts to and from JSON without knowing its type. Values are written
//!   in serde's human-readable form (timestamps and ids as text), exactly as
//!   JSON holds them, so a v1 value recoded into v2 reads back as the same
//!   value.
//! - **v1**: JSON text. Still read, so values written by an older build stay
//!   readable where they are; [`recode_v1`] converts one when a store is
//!   migrated.
//!
//! MessagePack was chosen over JSON by measurement on a request record (853 B
//! of JSON, 720 B here) and over positional encodings (postcard, bincode),
//! which cannot read the internally tagged enums the events are, nor a value
//! with a field they were not built with.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StoreError;

/// The first byte of a versioned value.
pub const MARK: u8 = 0xC1;
/// The version this build writes.
pub const VERSION: u8 = 2;

/// Encodes `value` in the current version.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[MARK, VERSION]);
    let mut ser = rmp_serde::Serializer::new(&mut out).with_struct_map().with_human_readable();
    value.serialize(&mut ser).map_err(|e| StoreError::Aborted(format!("cannot encode a value: {e}")))?;
    Ok(out)
}

/// Decodes a value of any version this build reads.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes {
        [MARK, VERSION, rest @ ..] => {
            let mut de = rmp_serde::Deserializer::from_read_ref(rest).with_human_readable();
            T::deserialize(&mut de).map_err(|e| StoreError::Corrupt(format!("a v2 value: {e}")))
        }
        [MARK, v, ..] => Err(StoreError::Format(format!(
            "a value of format version {v}; this build reads versions 1 and {VERSION}"
        ))),
        _ => serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("a v1 value: {e}"))),
    }
}

/// True when `bytes` is a value in the current version.
pub fn is_current(bytes: &[u8]) -> bool {
    bytes.starts_with(&[MARK, VERSION])
}

/// The current encoding of a value stored by an older version (the same
/// bytes when it is current already), without knowing its type.
pub fn recode_v1(bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
    if bytes.first() == Some(&MARK) {
        // Current already; an unknown version is refused rather than rewritten.
        decode::<serde::de::IgnoredAny>(bytes)?;
        return Ok(bytes.to_vec());
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("a v1 value: {e}")))?;
    encode(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
    enum Kind {
        Opened { by: String, at: Option<u64> },
        Closed,
        Moved(Box<Place>),
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Place {
        lat: f64,
        lon: f64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
    }

    fn samples() -> Vec<Kind> {
        vec![
            Kind::Opened { by: "Иванова".into(), at: Some(u64::MAX) },
            Kind::Opened { by: String::new(), at: None },
            Kind::Closed,
            Kind::Moved(Box::new(Place { lat: 48.298973, lon: -0.1, tags: vec![] })),
            Kind::Moved(Box::new(Place { lat: 1e-300, lon: 2.5, tags: vec!["a".into()] })),
        ]
    }

    #[test]
    fn values_round_trip_in_both_versions() {
        for k in samples() {
            let v2 = encode(&k).unwrap();
            assert!(is_current(&v2));
            assert_eq!(decode::<Kind>(&v2).unwrap(), k);
            let v1 = serde_json::to_vec(&k).unwrap();
            assert_eq!(decode::<Kind>(&v1).unwrap(), k);
            let recoded = recode_v1(&v1).unwrap();
            assert_eq!(decode::<Kind>(&recoded).unwrap(), k, "recoded {k:?}");
            assert_eq!(recode_v1(&recoded).unwrap(), recoded, "recoding is idempotent");
        }
    }

    #[test]
    fn a_field_added_later_reads_as_its_default() {
        #[derive(Serialize)]
        struct Old {
            lat: f64,
            lon: f64,
        }
        let old = encode(&Old { lat: 1.0, lon: 2.0 }).unwrap();
        assert_eq!(decode::<Place>(&old).unwrap(), Place { lat: 1.0, lon: 2.0, tags: vec![] });
    }

    #[test]
    fn garbage_and_unknown_versions_are_errors_not_panics() {
        assert!(matches!(decode::<Kind>(&[MARK, 9, 1, 2]), Err(StoreError::Format(_))));
        assert!(recode_v1(&[MARK, 9]).is_err());
        for bad in [&[][..], &[MARK], &[MARK, VERSION], &[MARK, VERSION, 0x81], b"{\"type\":"] {
            assert!(decode::<Kind>(bad).is_err(), "{bad:?}");
        }
    }
}
