//! The stored form of a record: version, event count, owned index keys, body.
//!
//! Layout: `version u64 BE | events u32 BE | n u16 BE | n × (len u16 BE, key) | body`.
//! A fixed binary header keeps decoding cheap on every read and write.

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub version: u64,
    pub events: u32,
    pub index: Vec<Vec<u8>>,
    pub body: Vec<u8>,
}

impl Envelope {
    pub fn encode(&self) -> Vec<u8> {
        let size = 14 + self.index.iter().map(|k| 2 + k.len()).sum::<usize>() + self.body.len();
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.events.to_be_bytes());
        // Index and key lengths are bounded by MAX_KEY and the index count by the
        // transaction check, so the u16 casts cannot truncate.
        out.extend_from_slice(&(self.index.len() as u16).to_be_bytes());
        for k in &self.index {
            out.extend_from_slice(&(k.len() as u16).to_be_bytes());
            out.extend_from_slice(k);
        }
        out.extend_from_slice(&self.body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let bad = || StoreError::Corrupt("truncated record envelope".into());
        let take = |at: usize, n: usize| bytes.get(at..at + n).ok_or_else(bad);
        let version = u64::from_be_bytes(take(0, 8)?.try_into().map_err(|_| bad())?);
        let events = u32::from_be_bytes(take(8, 4)?.try_into().map_err(|_| bad())?);
        let n = u16::from_be_bytes(take(12, 2)?.try_into().map_err(|_| bad())?) as usize;
        let mut at = 14;
        let mut index = Vec::with_capacity(n);
        for _ in 0..n {
            let len = u16::from_be_bytes(take(at, 2)?.try_into().map_err(|_| bad())?) as usize;
            index.push(take(at + 2, len)?.to_vec());
            at += 2 + len;
        }
        let body = bytes.get(at..).ok_or_else(bad)?.to_vec();
        Ok(Self { version, events, index, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips() {
        let e = Envelope {
            version: 7,
            events: 3,
            index: vec![b"a".to_vec(), vec![], b"long key".to_vec()],
            body: b"{}".to_vec(),
        };
        assert_eq!(Envelope::decode(&e.encode()).unwrap(), e);
    }

    #[test]
    fn truncated_envelope_is_corrupt_not_a_panic() {
        let e = Envelope { version: 1, events: 0, index: vec![b"abc".to_vec()], body: vec![] };
        let bytes = e.encode();
        // The header and index take 19 bytes; any shorter prefix is unreadable.
        for cut in 0..19 {
            assert!(Envelope::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
