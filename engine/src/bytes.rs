//! Fixed-width little-endian encoding for the engine's own files (manifest, snapshot):
//! a writer that appends, and a reader whose every short read is a typed corruption
//! error naming the file and offset.

use crate::{Error, Result};
use std::path::Path;

/// Appends fixed-width little-endian integers to a buffer.
#[derive(Debug, Default)]
pub struct ByteWriter {
    pub bytes: Vec<u8>,
}

impl ByteWriter {
    pub fn with_capacity(capacity: usize) -> ByteWriter {
        ByteWriter {
            bytes: Vec::with_capacity(capacity),
        }
    }
    pub fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }
    pub fn u16(&mut self, value: u16) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    pub fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    pub fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    pub fn raw(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }
}

/// Reads fixed-width little-endian integers; errors carry the file and offset.
#[derive(Debug)]
pub struct ByteReader<'a> {
    bytes: &'a [u8],
    position: usize,
    file: &'a Path,
}

impl<'a> ByteReader<'a> {
    pub fn new(bytes: &'a [u8], file: &'a Path) -> ByteReader<'a> {
        ByteReader {
            bytes,
            position: 0,
            file,
        }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    /// A corruption error at the current position.
    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::corruption(self.file, self.position as u64, reason)
    }

    pub fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8]> {
        if self.remaining() < len {
            return Err(self.error(format!(
                "file ends inside {what}: {len} bytes needed, {} left",
                self.remaining()
            )));
        }
        let slice = &self.bytes[self.position..self.position + len];
        self.position += len;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let slice = self.take(N, what)?;
        Ok(slice.try_into().expect("take returned exactly N bytes"))
    }

    pub fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that must be plausible: each counted item takes at least `item_len` bytes
    /// of what is left, so a flipped bit cannot make us allocate terabytes.
    pub fn count(&mut self, item_len: usize, what: &str) -> Result<usize> {
        let count = self.u64(what)?;
        let max = (self.remaining() / item_len.max(1)) as u64;
        if count > max {
            return Err(self.error(format!(
                "{what} = {count} is impossible with {} bytes left",
                self.remaining()
            )));
        }
        Ok(count as usize)
    }
}

/// Frame shared by the manifest and snapshot files:
/// `magic (8) | version u32 | body | crc32 (u32 over magic, version and body)`.
pub const FRAME_OVERHEAD: usize = 8 + 4 + 4;

/// Wrap `body` into a checksummed frame.
pub fn seal(magic: &[u8; 8], version: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + FRAME_OVERHEAD);
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Check a frame and return its body.
pub fn open_sealed<'a>(
    magic: &[u8; 8],
    supported_version: u32,
    bytes: &'a [u8],
    file: &Path,
) -> Result<&'a [u8]> {
    if bytes.len() < 12 || &bytes[..8] != magic {
        return Err(Error::ForeignFile {
            file: file.to_path_buf(),
        });
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != supported_version {
        return Err(Error::UnsupportedVersion {
            file: file.to_path_buf(),
            found: version,
            supported: supported_version,
        });
    }
    if bytes.len() < FRAME_OVERHEAD {
        return Err(Error::corruption(
            file,
            bytes.len() as u64,
            "file is truncated",
        ));
    }
    let (framed, crc_bytes) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes(crc_bytes.try_into().expect("4 bytes"));
    if crc32fast::hash(framed) != stored {
        return Err(Error::corruption(
            file,
            (bytes.len() - 4) as u64,
            "checksum mismatch",
        ));
    }
    Ok(&framed[12..])
}
