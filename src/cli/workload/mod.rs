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
    let key_bytes = key.to_le_bytes();
    let mut state = (key as u64) ^ version.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for index in 0..len {
        if index < 8 {
            value.push(key_bytes[index]);
        } else {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            value.push((state >> 56) as u8);
        }
    }
}

/// Does `value` carry `key`? Values shorter than 8 bytes carry only a prefix of it.
pub fn value_matches(key: i64, value: &[u8]) -> bool {
    let key_bytes = key.to_le_bytes();
    let len = value.len().min(8);
    value[..len] == key_bytes[..len]
}
