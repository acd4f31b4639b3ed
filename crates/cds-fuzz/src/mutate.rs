//! Mutations of PNG and TIFF bytes: bit flips, byte writes, truncations,
//! edits of header fields (with the PNG header's CRC fixed so the edit gets
//! past it), chunk duplication and splices.

use crate::seeds::Seed;
/// The generator of mutations: SplitMix64, the synthetic libraries' own, so a run is
/// reproduced by its `--seed` on every platform.
pub use cdsearch::synth::rng::Rng;

/// Values that make header fields interesting: zero, one, powers of two
/// and their neighbours, the size of a CDM, the decompression-bomb sizes.
const INTERESTING: [u32; 16] = [
    0,
    1,
    2,
    3,
    7,
    8,
    16,
    255,
    256,
    566,
    1210,
    2048,
    10_000,
    65_535,
    0x7FFF_FFFF,
    u32::MAX,
];

/// `seed` after one to three mutations.
pub fn mutate(seed: &[u8], seeds: &[Seed], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        match rng.below(8) {
            0 | 1 => flip_bits(&mut bytes, rng),
            2 => write_bytes(&mut bytes, rng),
            3 => truncate(&mut bytes, rng),
            4 | 5 => edit_header(&mut bytes, rng),
            6 => duplicate_chunk(&mut bytes, rng),
            _ => splice(&mut bytes, seeds, rng),
        }
    }
    bytes
}

fn flip_bits(bytes: &mut [u8], rng: &mut Rng) {
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(bytes.len());
        if let Some(b) = bytes.get_mut(at) {
            *b ^= 1 << rng.below(8);
        }
    }
}

fn write_bytes(bytes: &mut [u8], rng: &mut Rng) {
    // Headers are where most decisions are made: aim there half the time.
    let span = if rng.below(2) == 0 {
        bytes.len().min(256)
    } else {
        bytes.len()
    };
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(span);
        let value = match rng.below(3) {
            0 => 0,
            1 => 0xFF,
            _ => rng.next_u64() as u8,
        };
        if let Some(b) = bytes.get_mut(at) {
            *b = value;
        }
    }
}

fn truncate(bytes: &mut Vec<u8>, rng: &mut Rng) {
    let len = bytes.len();
    let keep = match rng.below(3) {
        // The cut files: 80% to 100% of the length.
        0 | 1 => len - rng.below(len / 5 + 1),
        _ => rng.below(len + 1),
    };
    bytes.truncate(keep);
}

/// Overwrites `bytes[at..at + N]` with `value` if it lies within.
fn put<const N: usize>(bytes: &mut [u8], at: usize, value: [u8; N]) {
    if let Some(dst) = bytes.get_mut(at..at + N) {
        dst.copy_from_slice(&value);
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

/// The PNG chunks after the signature: (offset of the chunk, data length).
fn png_chunks(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut chunks = Vec::new();
    let mut at = 8;
    while let Some(len) = bytes.get(at..at + 4) {
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if at + 12 + len > bytes.len() {
            break;
        }
        chunks.push((at, len));
        at += 12 + len;
    }
    chunks
}

fn edit_header(bytes: &mut [u8], rng: &mut Rng) {
    if bytes.starts_with(b"\x89PNG") {
        edit_png_header(bytes, rng);
    } else if bytes.starts_with(b"II") || bytes.starts_with(b"MM") {
        edit_tiff_tag(bytes, rng);
    } else {
        flip_bits(bytes, rng);
    }
}

/// Edits one IHDR field (width, height, bit depth, color type, compression,
/// filter, interlace) and, nine times in ten, fixes the CRC.
fn edit_png_header(bytes: &mut [u8], rng: &mut Rng) {
    match rng.below(7) {
        0 | 1 => {
            let at = if rng.below(2) == 0 { 16 } else { 20 };
            put(bytes, at, rng.pick(&INTERESTING).to_be_bytes());
        }
        2 => put(bytes, 24, [rng.pick(&[0u8, 1, 2, 3, 4, 5, 8, 16, 255])]),
        3 => put(bytes, 25, [rng.pick(&[0u8, 1, 2, 3, 4, 5, 6, 7, 255])]),
        4 => put(bytes, 26, [rng.pick(&[0u8, 1, 255])]),
        5 => put(bytes, 27, [rng.pick(&[0u8, 1, 255])]),
        _ => put(bytes, 28, [rng.pick(&[0u8, 1, 2])]),
    }
    if rng.below(10) != 0 && bytes.len() >= 33 {
        let crc = crc32(&bytes[12..29]);
        put(bytes, 29, crc.to_be_bytes());
    }
}

/// Edits the value of one tag of the first IFD that decides the layout
/// (width, height, bits, compression, photometric, strips, samples,
/// planar configuration, predictor), or its field type or count.
fn edit_tiff_tag(bytes: &mut [u8], rng: &mut Rng) {
    let big = bytes.starts_with(b"MM");
    let u16_at = |b: &[u8], at: usize| {
        b.get(at..at + 2).map(|s| {
            let pair = [s[0], s[1]];
            if big {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        })
    };
    let u32_at = |b: &[u8], at: usize| {
        b.get(at..at + 4).map(|s| {
            let quad = [s[0], s[1], s[2], s[3]];
            if big {
                u32::from_be_bytes(quad)
            } else {
                u32::from_le_bytes(quad)
            }
        })
    };
    let Some(ifd) = u32_at(bytes, 4) else {
        return flip_bits(bytes, rng);
    };
    let ifd = ifd as usize;
    let Some(n) = u16_at(bytes, ifd) else {
        return flip_bits(bytes, rng);
    };
    let layout_tags = [256u16, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317];
    let entries: Vec<(usize, u16, u16)> = (0..n as usize)
        .map(|i| ifd + 2 + 12 * i)
        .filter_map(|at| Some((at, u16_at(bytes, at)?, u16_at(bytes, at + 2)?)))
        .filter(|(_, tag, _)| layout_tags.contains(tag))
        .collect();
    if entries.is_empty() {
        return flip_bits(bytes, rng);
    }
    let (at, _, kind) = entries[rng.below(entries.len())];
    let value = rng.pick(&INTERESTING);
    match rng.below(6) {
        // The field type, or the count.
        0 => {
            let kind = rng.pick(&[1u16, 2, 3, 4, 5, 7, 16, 0]);
            put(
                bytes,
                at + 2,
                if big {
                    kind.to_be_bytes()
                } else {
                    kind.to_le_bytes()
                },
            );
        }
        1 => put(
            bytes,
            at + 4,
            if big {
                value.to_be_bytes()
            } else {
                value.to_le_bytes()
            },
        ),
        // The value (or offset) in the entry's type.
        _ if kind == 3 => {
            let v = value as u16;
            put(
                bytes,
                at + 8,
                if big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                },
            );
        }
        _ => put(
            bytes,
            at + 8,
            if big {
                value.to_be_bytes()
            } else {
                value.to_le_bytes()
            },
        ),
    }
}

/// Inserts a copy of a PNG chunk after it (or anywhere), or for TIFF a copy
/// of a byte range at another place.
fn duplicate_chunk(bytes: &mut Vec<u8>, rng: &mut Rng) {
    if bytes.starts_with(b"\x89PNG") {
        let chunks = png_chunks(bytes);
        if !chunks.is_empty() {
            let (at, len) = chunks[rng.below(chunks.len())];
            let copy = bytes[at..at + 12 + len].to_vec();
            let to = if rng.below(2) == 0 {
                at + 12 + len
            } else {
                let (other, _) = chunks[rng.below(chunks.len())];
                other
            };
            bytes.splice(to..to, copy);
            return;
        }
    }
    if bytes.is_empty() {
        return;
    }
    let start = rng.below(bytes.len());
    let len = 1 + rng.below((bytes.len() - start).min(4096));
    let copy = bytes[start..start + len].to_vec();
    let to = rng.below(bytes.len() + 1);
    if rng.below(2) == 0 {
        bytes.splice(to..to, copy);
    } else {
        let end = (to + len).min(bytes.len());
        bytes.splice(to..end, copy);
    }
}

/// Replaces the tail of `bytes` with the tail of another seed.
fn splice(bytes: &mut Vec<u8>, seeds: &[Seed], rng: &mut Rng) {
    let Some(other) = seeds.get(rng.below(seeds.len())) else {
        return;
    };
    let at = rng.below(bytes.len() + 1);
    let from = rng.below(other.bytes.len() + 1);
    bytes.truncate(at);
    bytes.extend_from_slice(&other.bytes[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_spreads() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..5).map(|_| b.next_u64()).collect::<Vec<_>>());
        let mut counts = [0; 4];
        for _ in 0..4000 {
            counts[a.below(4)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn png_header_edits_keep_a_valid_crc_most_of_the_time() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 4, 8, 2, 0, 0, 0]);
        let crc = crc32(&png[12..29]);
        png.extend_from_slice(&crc.to_be_bytes());
        let mut rng = Rng::new(1);
        let mut valid = 0;
        for _ in 0..100 {
            let mut m = png.clone();
            edit_png_header(&mut m, &mut rng);
            valid += usize::from(crc32(&m[12..29]).to_be_bytes() == m[29..33]);
        }
        assert!((80..=100).contains(&valid), "{valid}");
    }
}
