//! Shared by the concurrency tests: self-describing values (a value names its key, its
//! version and its writer, and carries a CRC32 over all of that and its payload), so a
//! reader can tell an intact value of the right key from a torn or misdirected one, and
//! time limits so no test can hang.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

pub mod process;

use std::time::{Duration, Instant};

/// key (8) + version (8) + writer (4) + payload length (4); the CRC32 (4) comes last.
pub const HEADER_LEN: usize = 24;
pub const CRC_LEN: usize = 4;

/// What a value says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub key: i64,
    pub version: u64,
    pub writer: u32,
}

/// A value for `key` at `version` written by `writer`, with `payload_len` payload bytes
/// derived from all three.
pub fn encode(key: i64, version: u64, writer: u32, payload_len: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(HEADER_LEN + payload_len + CRC_LEN);
    value.extend_from_slice(&key.to_le_bytes());
    value.extend_from_slice(&version.to_le_bytes());
    value.extend_from_slice(&writer.to_le_bytes());
    value.extend_from_slice(&(payload_len as u32).to_le_bytes());
    let seed = (key as u64) ^ version.rotate_left(29) ^ u64::from(writer).rotate_left(47);
    value.extend((0..payload_len).map(|i| (seed.wrapping_mul(i as u64 + 1) >> 13) as u8));
    let crc = crc32fast::hash(&value);
    value.extend_from_slice(&crc.to_le_bytes());
    value
}

/// The payload length used for `version` (varies so records have different sizes).
pub fn payload_len(version: u64) -> usize {
    16 + (version % 61) as usize
}

/// Check `bytes` is an intact value and return its stamp.
pub fn decode(bytes: &[u8]) -> Result<Stamp, String> {
    if bytes.len() < HEADER_LEN + CRC_LEN {
        return Err(format!("value of {} bytes is too short", bytes.len()));
    }
    let (body, crc) = bytes.split_at(bytes.len() - CRC_LEN);
    let stored = u32::from_le_bytes(crc.try_into().expect("split at CRC_LEN"));
    if crc32fast::hash(body) != stored {
        return Err(format!("CRC mismatch in a value of {} bytes", bytes.len()));
    }
    let field = |at: usize, len: usize| &body[at..at + len];
    let payload = u32::from_le_bytes(field(20, 4).try_into().expect("4 bytes")) as usize;
    if body.len() != HEADER_LEN + payload {
        return Err(format!(
            "value says {payload} payload bytes but has {}",
            body.len() - HEADER_LEN
        ));
    }
    Ok(Stamp {
        key: i64::from_le_bytes(field(0, 8).try_into().expect("8 bytes")),
        version: u64::from_le_bytes(field(8, 8).try_into().expect("8 bytes")),
        writer: u32::from_le_bytes(field(16, 4).try_into().expect("4 bytes")),
    })
}

/// Decode and check the value belongs to `key`; panics with context otherwise.
pub fn check(key: i64, bytes: &[u8]) -> Stamp {
    let stamp = decode(bytes).unwrap_or_else(|e| panic!("key {key}: damaged value: {e}"));
    assert_eq!(
        stamp.key, key,
        "key {key} returned a value of key {}",
        stamp.key
    );
    stamp
}

/// Seconds from an environment variable, or `default`.
pub fn secs_from_env(name: &str, default: f64) -> Duration {
    let secs = std::env::var(name)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(default);
    Duration::from_secs_f64(secs)
}

/// A point in time after which loops stop; tests also assert they finished before a
/// hard limit, so a hang fails instead of blocking the suite.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    soft: Instant,
    hard: Instant,
}

impl Deadline {
    /// Loops stop after `run`; anything still running after `run + grace` is a failure.
    pub fn new(run: Duration, grace: Duration) -> Deadline {
        let now = Instant::now();
        Deadline {
            soft: now + run,
            hard: now + run + grace,
        }
    }

    pub fn passed(&self) -> bool {
        Instant::now() >= self.soft
    }

    /// Panic if the hard limit passed (call in waits that could otherwise hang).
    pub fn check_hard(&self, what: &str) {
        assert!(
            Instant::now() < self.hard,
            "{what}: still running past the hard time limit"
        );
    }
}

/// Percentile of a sorted slice (nearest rank).
pub fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
