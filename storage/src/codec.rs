//! Encodings of everything storage persists. Every value starts with a format version byte.
//!
//! Records (the hot path) use a fixed layout: `version:u8 kind:u8 flags:u8 [expire_at_ms:u64 BE]
//! [stamp:u64 BE] data…` (flag bit 0: has expiry; bit 1: has stamp). Everything else is
//! `version:u8` + postcard.

use serde::{de::DeserializeOwned, Serialize};

use crate::kv::{Kind, Record};
use crate::StorageError;

const RECORD_V1: u8 = 1;
const POSTCARD_V1: u8 = 1;
const HAS_EXPIRY: u8 = 1;
const HAS_STAMP: u8 = 2;

pub fn encode_record(r: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(19 + r.data.len());
    out.push(RECORD_V1);
    out.push(r.kind as u8);
    let flags = if r.expire_at_ms.is_some() {
        HAS_EXPIRY
    } else {
        0
    } | if r.stamp != 0 { HAS_STAMP } else { 0 };
    out.push(flags);
    if let Some(at) = r.expire_at_ms {
        out.extend_from_slice(&at.to_be_bytes());
    }
    if r.stamp != 0 {
        out.extend_from_slice(&r.stamp.to_be_bytes());
    }
    out.extend_from_slice(&r.data);
    out
}

pub fn decode_record(b: &[u8]) -> Result<Record, StorageError> {
    let corrupt = |detail: &str| StorageError::Corrupt {
        what: "record",
        detail: detail.to_string(),
    };
    if b.len() < 3 {
        return Err(corrupt("too short"));
    }
    if b[0] != RECORD_V1 {
        return Err(corrupt(&format!("unknown record version {}", b[0])));
    }
    let kind = Kind::from_byte(b[1]).ok_or_else(|| corrupt(&format!("unknown kind {}", b[1])))?;
    if b[2] & !(HAS_EXPIRY | HAS_STAMP) != 0 {
        return Err(corrupt(&format!("unknown flags {:#x}", b[2])));
    }
    let mut rest = &b[3..];
    let mut field = |name: &str| -> Result<u64, StorageError> {
        let (v, tail) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| corrupt(&format!("truncated {name}")))?;
        rest = tail;
        Ok(u64::from_be_bytes(*v))
    };
    let expire_at_ms = match b[2] & HAS_EXPIRY {
        0 => None,
        _ => Some(field("expiry")?),
    };
    let stamp = match b[2] & HAS_STAMP {
        0 => 0,
        _ => field("stamp")?,
    };
    Ok(Record {
        kind,
        expire_at_ms,
        data: rest.to_vec(),
        stamp,
    })
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    let mut out = vec![POSTCARD_V1];
    let body = postcard::to_stdvec(value).map_err(|e| StorageError::Corrupt {
        what: "encode",
        detail: e.to_string(),
    })?;
    out.extend_from_slice(&body);
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(what: &'static str, b: &[u8]) -> Result<T, StorageError> {
    match b.split_first() {
        Some((&POSTCARD_V1, body)) => {
            postcard::from_bytes(body).map_err(|e| StorageError::Corrupt {
                what,
                detail: e.to_string(),
            })
        }
        Some((v, _)) => Err(StorageError::Corrupt {
            what,
            detail: format!("unknown format version {v}"),
        }),
        None => Err(StorageError::Corrupt {
            what,
            detail: "empty value".into(),
        }),
    }
}

/// `Vec<Vec<u8>>` as a sequence of byte strings, for `#[serde(with = "...")]`. Postcard writes
/// exactly the bytes of the plain form (a length, then each vector as length and bytes), so
/// encodings persisted or sent before are read the same; each vector is copied whole instead of
/// decoded byte by byte. (`serde_bytes` does the same for a single `Vec<u8>`.)
pub mod byte_strings {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| Bytes::new(b)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let v = Vec::<ByteBuf>::deserialize(d)?;
        Ok(v.into_iter().map(ByteBuf::into_vec).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde::Deserialize;

    use crate::types::Proposal;

    /// The byte-string forms write the bytes of the plain `Vec<u8>` forms: logs, snapshots and
    /// RPCs encoded by either read the same.
    #[test]
    fn byte_strings_encode_as_the_plain_vectors_did() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct PlainProposal {
            stamp_ms: u64,
            cmd: Vec<u8>,
        }
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Lists(#[serde(with = "byte_strings")] Vec<Vec<u8>>);
        let cmd: Vec<u8> = (0..=255).chain(0..40).collect();
        let new = Proposal {
            stamp_ms: 1_700_000_000_123,
            cmd: cmd.clone(),
        };
        let old = PlainProposal {
            stamp_ms: new.stamp_ms,
            cmd,
        };
        let bytes = encode(&new).expect("encode");
        assert_eq!(bytes, encode(&old).expect("encode"));
        assert_eq!(decode::<PlainProposal>("t", &bytes).expect("decode"), old);
        assert_eq!(decode::<Proposal>("t", &bytes).expect("decode"), new);

        let lists = vec![b"abc".to_vec(), Vec::new(), vec![0xff; 300]];
        let bytes = encode(&Lists(lists.clone())).expect("encode");
        assert_eq!(bytes, encode(&lists).expect("encode"));
        assert_eq!(decode::<Lists>("t", &bytes).expect("decode").0, lists);
        // A declared length past the end is an error, not an allocation of that size.
        let mut cut = bytes.clone();
        cut.truncate(bytes.len() - 1);
        assert!(decode::<Lists>("t", &cut).is_err());
    }

    #[test]
    fn records_round_trip_and_reject_garbage() {
        for r in [
            Record::string(b"v".to_vec()),
            Record {
                kind: Kind::String,
                expire_at_ms: Some(1_700_000_000_000),
                data: vec![],
                stamp: 0,
            },
            Record {
                kind: Kind::ZSet,
                expire_at_ms: Some(5),
                data: vec![1, 2],
                stamp: 77,
            },
            Record {
                stamp: 1,
                ..Record::string(b"x".to_vec())
            },
        ] {
            assert_eq!(decode_record(&encode_record(&r)).expect("decode"), r);
        }
        // Golden bytes: the record layout is persisted, a change must be deliberate.
        assert_eq!(
            encode_record(&Record::string(b"ab".to_vec())),
            vec![1, 0, 0, b'a', b'b']
        );
        assert!(decode_record(&[]).is_err());
        assert!(decode_record(&[2, 0, 0]).is_err());
        assert!(decode_record(&[1, 9, 0]).is_err());
        assert!(decode_record(&[1, 0, 1, 0]).is_err());
        assert!(decode_record(&[1, 0, 2, 0, 0]).is_err());
        assert!(decode_record(&[1, 0, 4]).is_err());
    }

    #[test]
    fn postcard_values_carry_a_version() {
        let b = encode(&(7u64, "x".to_string())).expect("encode");
        assert_eq!(b[0], 1);
        let back: (u64, String) = decode("t", &b).expect("decode");
        assert_eq!(back, (7, "x".to_string()));
        assert!(decode::<(u64, String)>("t", &[9, 1]).is_err());
    }
}
