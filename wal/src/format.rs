//! On-disk byte layout: the segment header and the record framing (see `docs/FORMAT.md`).
//!
//! Owns every constant and every encode/decode of bytes that live in a file. All integers
//! are fixed-width little-endian; nothing here knows about files, locks or mappings.
//!
//! ```text
//! segment header (64 bytes, at offset 0)
//!   0  8  magic "ALEXDBSG"
//!   8  4  format version (u32) = FORMAT_VERSION
//!  12  4  kind (u32): 1 = log, 2 = standalone
//!  16  8  segment id (u64)
//!  24  8  first sequence number (u64): the seq the first record of a log segment carries
//!  32  8  capacity in bytes (u64), header included
//!  40 20  reserved, zero
//!  60  4  CRC32 of bytes 0..60
//!
//! record (at an 8-aligned offset >= 64)
//!   0  4  CRC32 of bytes 4..stored_len (rest of header, payload and padding)
//!   4  4  payload length (u32)
//!   8  8  sequence number (u64)
//!  16  1  frame: 1 Full, 2 First, 3 Middle, 4 Last (0 never valid: zeroed space)
//!  17  1  tag (opaque to the log)
//!  18  6  reserved, zero
//!  24  n  payload, then zero padding to the next multiple of 8
//! ```

use crate::{Frame, SegmentId, SegmentKind};

/// First bytes of every segment file.
pub(crate) const MAGIC: [u8; 8] = *b"ALEXDBSG";
/// The format version this build writes and reads. Bumped on any layout change; a reader
/// refuses every other version (`Error::UnsupportedVersion`) rather than guessing.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header; records start here.
pub(crate) const SEGMENT_HEADER_LEN: u64 = 64;
/// Bytes of a record header.
pub(crate) const RECORD_HEADER_LEN: u64 = 24;
/// Records start at multiples of this (so the u64 fields of a header are aligned).
pub(crate) const RECORD_ALIGN: u64 = 8;
/// The payload length field is a u32; this is the hard ceiling for `max_record_payload`.
pub(crate) const MAX_PAYLOAD_FORMAT: u64 = u32::MAX as u64 - RECORD_ALIGN;

/// Zeros used as record padding (never more than `RECORD_ALIGN - 1` are needed).
pub(crate) const ZERO_PAD: [u8; RECORD_ALIGN as usize] = [0; RECORD_ALIGN as usize];

/// Bytes a record with `payload_len` bytes of payload occupies: header + payload + padding.
#[inline]
pub(crate) const fn stored_len(payload_len: u64) -> u64 {
    RECORD_HEADER_LEN + payload_len.div_ceil(RECORD_ALIGN) * RECORD_ALIGN
}

pub(crate) fn kind_code(kind: SegmentKind) -> u32 {
    match kind {
        SegmentKind::Log => 1,
        SegmentKind::Standalone => 2,
    }
}

pub(crate) fn frame_code(frame: Frame) -> u8 {
    match frame {
        Frame::Full => 1,
        Frame::First => 2,
        Frame::Middle => 3,
        Frame::Last => 4,
    }
}

#[inline]
pub(crate) fn frame_from_code(code: u8) -> Option<Frame> {
    match code {
        1 => Some(Frame::Full),
        2 => Some(Frame::First),
        3 => Some(Frame::Middle),
        4 => Some(Frame::Last),
        _ => None,
    }
}

/// The decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub kind: SegmentKind,
    pub segment_id: SegmentId,
    pub first_seq: u64,
    pub capacity: u64,
}

/// Why a header did not decode; the caller turns it into a typed `Error` with the path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    NotASegment,
    UnsupportedVersion(u32),
    Corrupt(&'static str),
}

impl SegmentHeader {
    pub(crate) fn encode(&self) -> [u8; SEGMENT_HEADER_LEN as usize] {
        let mut bytes = [0u8; SEGMENT_HEADER_LEN as usize];
        bytes[0..8].copy_from_slice(&MAGIC);
        bytes[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&kind_code(self.kind).to_le_bytes());
        bytes[16..24].copy_from_slice(&self.segment_id.0.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.first_seq.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.capacity.to_le_bytes());
        let crc = crc32fast::hash(&bytes[0..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decode and validate: magic, then version (a different version may lay out the rest
    /// differently, so it is checked before the CRC), then CRC, kind and capacity.
    pub(crate) fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderError> {
        if bytes.len() < SEGMENT_HEADER_LEN as usize || bytes[0..8] != MAGIC {
            return Err(HeaderError::NotASegment);
        }
        let version = read_u32(bytes, 8);
        if version != FORMAT_VERSION {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        if crc32fast::hash(&bytes[0..60]) != read_u32(bytes, 60) {
            return Err(HeaderError::Corrupt("segment header checksum mismatch"));
        }
        let kind = match read_u32(bytes, 12) {
            1 => SegmentKind::Log,
            2 => SegmentKind::Standalone,
            _ => return Err(HeaderError::Corrupt("unknown segment kind")),
        };
        let capacity = read_u64(bytes, 32);
        if capacity < SEGMENT_HEADER_LEN + RECORD_HEADER_LEN
            || !capacity.is_multiple_of(RECORD_ALIGN)
        {
            return Err(HeaderError::Corrupt("segment capacity out of range"));
        }
        Ok(SegmentHeader {
            kind,
            segment_id: SegmentId(read_u64(bytes, 16)),
            first_seq: read_u64(bytes, 24),
            capacity,
        })
    }
}

/// The fixed part of a record, decoded but not yet checked against its CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub crc: u32,
    pub payload_len: u32,
    pub seq: u64,
    pub frame: Frame,
    pub tag: u8,
}

impl RecordHeader {
    /// Encode everything; the CRC field is filled by [`record_crc`] over the whole record.
    #[inline]
    pub(crate) fn encode_without_crc(
        payload_len: u32,
        seq: u64,
        frame: Frame,
        tag: u8,
    ) -> [u8; RECORD_HEADER_LEN as usize] {
        let mut bytes = [0u8; RECORD_HEADER_LEN as usize];
        bytes[4..8].copy_from_slice(&payload_len.to_le_bytes());
        bytes[8..16].copy_from_slice(&seq.to_le_bytes());
        bytes[16] = frame_code(frame);
        bytes[17] = tag;
        bytes
    }

    /// Structural decode of a header: frame byte known, reserved bytes zero.
    /// `None` means "not a record" (zeroed space, garbage, or a torn write).
    #[inline]
    pub(crate) fn decode(bytes: &[u8; RECORD_HEADER_LEN as usize]) -> Option<RecordHeader> {
        let frame = frame_from_code(bytes[16])?;
        if bytes[18..24] != [0u8; 6] {
            return None;
        }
        Some(RecordHeader {
            crc: read_u32(bytes, 0),
            payload_len: read_u32(bytes, 4),
            seq: read_u64(bytes, 8),
            frame,
            tag: bytes[17],
        })
    }

    #[inline]
    pub(crate) fn stored_len(&self) -> u64 {
        stored_len(u64::from(self.payload_len))
    }
}

/// CRC of a record as stored: header bytes after the CRC field, payload parts, padding.
#[inline]
pub(crate) fn record_crc(header: &[u8; RECORD_HEADER_LEN as usize], parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[4..]);
    let mut len = 0u64;
    for part in parts {
        hasher.update(part);
        len += part.len() as u64;
    }
    let pad = (stored_len(len) - RECORD_HEADER_LEN - len) as usize;
    hasher.update(&ZERO_PAD[..pad]);
    hasher.finalize()
}

#[inline]
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

#[inline]
pub(crate) fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// How a record at some offset of a byte region looks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A complete record whose CRC matches.
    Valid(RecordHeader),
    /// Not a record: the reason is reported in errors.
    Invalid(&'static str),
}

/// Check the record at `offset` of `region` (which holds the file from offset 0):
/// alignment, header structure, bounds, CRC. Never panics, whatever the bytes.
#[inline]
pub(crate) fn probe_record(region: &[u8], offset: u64) -> Probe {
    probe(region, offset, true)
}

/// `probe_record` without the CRC: for regions already verified (a log's published
/// region was checked by recovery or written by this process). Never panics either.
#[inline]
pub(crate) fn probe_structure(region: &[u8], offset: u64) -> Probe {
    probe(region, offset, false)
}

#[inline]
fn probe(region: &[u8], offset: u64, verify_crc: bool) -> Probe {
    let len = region.len() as u64;
    if !offset.is_multiple_of(RECORD_ALIGN) || offset < SEGMENT_HEADER_LEN {
        return Probe::Invalid("misaligned record offset");
    }
    if offset.saturating_add(RECORD_HEADER_LEN) > len {
        return Probe::Invalid("record header runs past the end of the segment");
    }
    let at = offset as usize;
    let mut header_bytes = [0u8; RECORD_HEADER_LEN as usize];
    header_bytes.copy_from_slice(&region[at..at + RECORD_HEADER_LEN as usize]);
    let Some(header) = RecordHeader::decode(&header_bytes) else {
        return Probe::Invalid(if header_bytes == [0u8; RECORD_HEADER_LEN as usize] {
            "zeroed record header"
        } else {
            "malformed record header"
        });
    };
    let stored = header.stored_len();
    if offset + stored > len {
        return Probe::Invalid("record runs past the end of the segment");
    }
    let body = &region[at + 4..at + stored as usize];
    if verify_crc && crc32fast::hash(body) != header.crc {
        return Probe::Invalid("record checksum mismatch");
    }
    Probe::Valid(header)
}

/// True when every byte of `bytes` is zero (vectorizes well: checked in words).
pub(crate) fn is_all_zero(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    words.by_ref().all(|word| word == [0u8; 8]) && words.remainder().iter().all(|&b| b == 0)
}

/// Offset (8-aligned, > `after`) of the next valid record in `region`, if any. Only a
/// header whose frame byte is known and whose reserved bytes are zero has its CRC checked,
/// so a scan over garbage stays cheap.
pub(crate) fn find_next_valid(region: &[u8], after: u64) -> Option<u64> {
    let len = region.len() as u64;
    let mut offset = (after + RECORD_ALIGN) / RECORD_ALIGN * RECORD_ALIGN;
    while offset + RECORD_HEADER_LEN <= len {
        let at = offset as usize;
        let candidate =
            frame_from_code(region[at + 16]).is_some() && region[at + 18..at + 24] == [0u8; 6];
        if candidate && matches!(probe_record(region, offset), Probe::Valid(_)) {
            return Some(offset);
        }
        offset += RECORD_ALIGN;
    }
    None
}

/// End (exclusive, rounded up to 8) of the non-zero bytes of `region` at or after `from`;
/// `from` itself when everything after it is zero.
pub(crate) fn nonzero_end(region: &[u8], from: u64) -> u64 {
    let from = from.min(region.len() as u64);
    let tail = &region[from as usize..];
    match tail.iter().rposition(|&b| b != 0) {
        Some(last) => (from + last as u64 + 1).div_ceil(RECORD_ALIGN) * RECORD_ALIGN,
        None => from,
    }
    .min(region.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, frame: Frame, tag: u8, payload: &[u8]) -> Vec<u8> {
        let mut header = RecordHeader::encode_without_crc(payload.len() as u32, seq, frame, tag);
        let crc = record_crc(&header, &[payload]);
        header[0..4].copy_from_slice(&crc.to_le_bytes());
        let mut bytes = header.to_vec();
        bytes.extend_from_slice(payload);
        bytes.resize(stored_len(payload.len() as u64) as usize, 0);
        bytes
    }

    fn region_with(records: &[Vec<u8>]) -> Vec<u8> {
        let mut region = vec![0u8; SEGMENT_HEADER_LEN as usize];
        for r in records {
            region.extend_from_slice(r);
        }
        region.resize(region.len() + 256, 0);
        region
    }

    #[test]
    fn stored_len_rounds_to_alignment() {
        assert_eq!(stored_len(0), 24);
        assert_eq!(stored_len(1), 32);
        assert_eq!(stored_len(8), 32);
        assert_eq!(stored_len(100), 128);
    }

    #[test]
    fn header_round_trip_and_validation() {
        let header = SegmentHeader {
            kind: SegmentKind::Log,
            segment_id: SegmentId(7),
            first_seq: 42,
            capacity: 1 << 20,
        };
        let bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        assert_eq!(
            SegmentHeader::decode(&bytes[..10]),
            Err(HeaderError::NotASegment)
        );
        let mut bad = bytes;
        bad[0] ^= 1;
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderError::NotASegment));
        let mut bad = bytes;
        bad[8] = 2;
        assert_eq!(
            SegmentHeader::decode(&bad),
            Err(HeaderError::UnsupportedVersion(2))
        );
        for byte in 12..64 {
            let mut bad = bytes;
            bad[byte] ^= 0x10;
            assert!(matches!(
                SegmentHeader::decode(&bad),
                Err(HeaderError::Corrupt(_))
            ));
        }
    }

    #[test]
    fn record_round_trip() {
        let region = region_with(&[
            record(5, Frame::First, 9, b"hello"),
            record(6, Frame::Last, 1, b""),
        ]);
        let Probe::Valid(first) = probe_record(&region, 64) else {
            panic!("first record")
        };
        assert_eq!(
            (first.seq, first.frame, first.tag, first.payload_len),
            (5, Frame::First, 9, 5)
        );
        let Probe::Valid(second) = probe_record(&region, 64 + first.stored_len()) else {
            panic!("second record")
        };
        assert_eq!(
            (second.seq, second.frame, second.payload_len),
            (6, Frame::Last, 0)
        );
        assert_eq!(
            probe_record(&region, 64 + 32 + 24),
            Probe::Invalid("zeroed record header")
        );
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let rec = record(3, Frame::Full, 2, b"abcdefghijk");
        for bit in 0..rec.len() * 8 {
            let mut flipped = rec.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let region = region_with(&[flipped]);
            assert!(
                matches!(probe_record(&region, 64), Probe::Invalid(_)),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn garbage_never_panics_and_next_valid_is_found() {
        let mut region = region_with(&[record(1, Frame::Full, 0, b"x")]);
        let good = record(2, Frame::Full, 0, b"yy");
        let at = 64 + 32 + 40;
        region[64 + 32..at].iter_mut().for_each(|b| *b = 0xAB);
        region[at..at + good.len()].copy_from_slice(&good);
        for offset in 0..region.len() as u64 + 10 {
            let _ = probe_record(&region, offset);
        }
        assert_eq!(find_next_valid(&region, 64 + 32), Some(at as u64));
        assert_eq!(nonzero_end(&region, 64), (at + good.len()) as u64);
        assert!(is_all_zero(&region[at + good.len()..]));
        assert!(!is_all_zero(&region[64..]));
    }
}
