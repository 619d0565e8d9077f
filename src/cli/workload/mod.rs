//! Workloads: key populations and distributions, the YCSB core workloads, db_bench's
//! benchmarks, and the thread runner they all share.

pub mod dbbench;
pub mod generators;
pub mod keys;
pub mod runner;
pub mod ycsb;

/// Fill `value` with `len` bytes that carry `key` (first 8 bytes, little-endian) and a
/// `version` pattern, so a read can check it got the value of the key it asked for.
pub fn make_value(key: i64, version: u64, len: usize, value: &mut Vec<u8>) {
    value.clear();
    let prefix = len.min(8);
    value.extend_from_slice(&key.to_le_bytes()[..prefix]);
    let mut state = (key as u64) ^ version.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    value.extend((prefix..len).map(|_| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 56) as u8
    }));
}

/// Does `value` carry `key`? Values shorter than 8 bytes carry only a prefix of it.
pub fn value_matches(key: i64, value: &[u8]) -> bool {
    let key_bytes = key.to_le_bytes();
    let len = value.len().min(8);
    value[..len] == key_bytes[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_carry_their_key() {
        let mut value = Vec::new();
        make_value(-42, 3, 100, &mut value);
        assert_eq!(value.len(), 100);
        assert!(value_matches(-42, &value));
        assert!(!value_matches(42, &value));
        make_value(7, 0, 3, &mut value);
        assert_eq!(value, 7i64.to_le_bytes()[..3]);
        assert!(value_matches(7, &value));
    }
}
