//! Occupancy bitmaps of data nodes: bit `i` of word `i / 64` is set iff slot `i` holds a key.
//! Bits past a node's capacity are always 0. Scans go a word at a time.

#[inline(always)]
pub(crate) fn bit(bitmap: &[u64], i: usize) -> bool {
    bitmap[i >> 6] & (1u64 << (i & 63)) != 0
}

/// First set bit at or after `from`, below `cap`.
pub(crate) fn next_set(bitmap: &[u64], from: usize, cap: usize) -> Option<usize> {
    if from >= cap {
        return None;
    }
    let mut w = from >> 6;
    let mut word = bitmap[w] & (!0u64 << (from & 63));
    loop {
        if word != 0 {
            let i = (w << 6) + word.trailing_zeros() as usize;
            return (i < cap).then_some(i);
        }
        w += 1;
        if w >= bitmap.len() {
            return None;
        }
        word = bitmap[w];
    }
}

/// Last set bit strictly before `before`.
pub(crate) fn prev_set(bitmap: &[u64], before: usize) -> Option<usize> {
    if before == 0 {
        return None;
    }
    let last = before - 1;
    let mut w = last >> 6;
    let shift = 63 - (last & 63);
    let mut word = (bitmap[w] << shift) >> shift;
    loop {
        if word != 0 {
            return Some((w << 6) + 63 - word.leading_zeros() as usize);
        }
        if w == 0 {
            return None;
        }
        w -= 1;
        word = bitmap[w];
    }
}

/// First clear bit at or after `from`, below `cap`.
pub(crate) fn next_clear(bitmap: &[u64], from: usize, cap: usize) -> Option<usize> {
    if from >= cap {
        return None;
    }
    let mut w = from >> 6;
    let mut word = !bitmap[w] & (!0u64 << (from & 63));
    loop {
        if word != 0 {
            let i = (w << 6) + word.trailing_zeros() as usize;
            return (i < cap).then_some(i);
        }
        w += 1;
        if w >= bitmap.len() {
            return None;
        }
        word = !bitmap[w];
    }
}

/// Last clear bit strictly before `before`.
pub(crate) fn prev_clear(bitmap: &[u64], before: usize) -> Option<usize> {
    if before == 0 {
        return None;
    }
    let last = before - 1;
    let mut w = last >> 6;
    let shift = 63 - (last & 63);
    let mut word = (!bitmap[w] << shift) >> shift;
    loop {
        if word != 0 {
            return Some((w << 6) + 63 - word.leading_zeros() as usize);
        }
        if w == 0 {
            return None;
        }
        w -= 1;
        word = !bitmap[w];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_scans() {
        let mut bm = vec![0u64; 3];
        for i in [0usize, 5, 63, 64, 130] {
            bm[i >> 6] |= 1 << (i & 63);
        }
        assert_eq!(next_set(&bm, 1, 150), Some(5));
        assert_eq!(next_set(&bm, 65, 150), Some(130));
        assert_eq!(next_set(&bm, 131, 150), None);
        assert_eq!(prev_set(&bm, 130), Some(64));
        assert_eq!(prev_set(&bm, 64), Some(63));
        assert_eq!(prev_set(&bm, 0), None);
        assert_eq!(next_clear(&bm, 63, 150), Some(65));
        assert_eq!(prev_clear(&bm, 65), Some(62));
        assert_eq!(prev_clear(&bm, 1), None);
    }
}
