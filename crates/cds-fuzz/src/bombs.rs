//! Decompression bombs: small valid PNG and TIFF files whose headers claim
//! a huge size over highly compressible (zero) pixel data.

use std::io::Write;

/// The four kinds of bombs, by file name, for `width` x `height`: 8-bit RGB
/// PNG, interlaced 16-bit RGBA PNG (the costliest to decode: an
/// interlaced frame is inflated whole before its first row), LZW and
/// PackBits 8-bit RGB TIFFs.
pub fn all(width: u32, height: u32) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("bomb-rgb8.png", png_bomb(width, height, 2, 8, 3, false)),
        (
            "bomb-rgba16-interlaced.png",
            png_bomb(width, height, 6, 16, 8, true),
        ),
        ("bomb-lzw.tif", tiff_bomb(width, height, 5)),
        ("bomb-packbits.tif", tiff_bomb(width, height, 32773)),
    ]
}

/// Writes one PNG chunk with its CRC.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A PNG of `width` x `height` zero pixels with `bytes_per_pixel` bytes each
/// (color type and depth as given), interlaced or not.
pub fn png_bomb(
    width: u32,
    height: u32,
    color: u8,
    depth: u8,
    bytes_per_pixel: usize,
    interlaced: bool,
) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color, 0, 0, u8::from(interlaced)]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let passes: Vec<(usize, usize)> = if interlaced {
        crate::seeds::ADAM7
            .iter()
            .map(|&(x0, y0, dx, dy)| {
                (
                    (width as usize).saturating_sub(x0).div_ceil(dx),
                    (height as usize).saturating_sub(y0).div_ceil(dy),
                )
            })
            .filter(|&(w, h)| w > 0 && h > 0)
            .collect()
    } else {
        vec![(width as usize, height as usize)]
    };
    for (w, h) in passes {
        // A filter byte (0) and the row's zero samples.
        let row = vec![0u8; 1 + w * bytes_per_pixel];
        for _ in 0..h {
            z.write_all(&row).expect("deflate");
        }
    }
    let idat = z.finish().expect("deflate");
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    for part in idat.chunks(1 << 16) {
        chunk(&mut out, b"IDAT", part);
    }
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A little-endian 8-bit RGB TIFF of zeros, `compression` 5 (LZW) or 32773
/// (PackBits), 64 rows per strip.
pub fn tiff_bomb(width: u32, height: u32, compression: u16) -> Vec<u8> {
    const ROWS: u32 = 64;
    let mut file = b"II*\0\0\0\0\0".to_vec();
    let row_bytes = width as usize * 3;
    let (mut offsets, mut counts) = (Vec::new(), Vec::new());
    let mut y = 0;
    let mut cached: Option<(u32, Vec<u8>)> = None;
    while y < height {
        let rows = ROWS.min(height - y);
        // Every full strip compresses the same: compress once.
        let packed = match &cached {
            Some((r, p)) if *r == rows => p.clone(),
            _ => {
                let raw = vec![0u8; rows as usize * row_bytes];
                let p = if compression == 5 {
                    weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                        .encode(&raw)
                        .expect("LZW")
                } else {
                    let mut out = Vec::new();
                    for row in raw.chunks(row_bytes) {
                        cdsearch::encode::packbits(row, &mut out);
                    }
                    out
                };
                cached = Some((rows, p.clone()));
                p
            }
        };
        offsets.push(file.len() as u32);
        counts.push(packed.len() as u32);
        file.extend_from_slice(&packed);
        y += rows;
    }
    let array = |file: &mut Vec<u8>, values: &[u32]| -> u32 {
        let at = file.len() as u32;
        for v in values {
            file.extend_from_slice(&v.to_le_bytes());
        }
        at
    };
    let offsets_at = array(&mut file, &offsets);
    let counts_at = array(&mut file, &counts);
    let bits_at = file.len() as u32;
    for _ in 0..3 {
        file.extend_from_slice(&8u16.to_le_bytes());
    }
    let ifd = file.len() as u32;
    let n = offsets.len() as u32;
    let entries: [(u16, u16, u32, u32); 9] = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 3, bits_at),
        (259, 3, 1, u32::from(compression)),
        (262, 3, 1, 2),
        (273, 4, n, offsets_at),
        (277, 3, 1, 3),
        (278, 4, 1, ROWS),
        (279, 4, n, counts_at),
    ];
    file.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        file.extend_from_slice(&tag.to_le_bytes());
        file.extend_from_slice(&kind.to_le_bytes());
        file.extend_from_slice(&count.to_le_bytes());
        file.extend_from_slice(&value.to_le_bytes());
    }
    file.extend_from_slice(&0u32.to_le_bytes());
    file[4..8].copy_from_slice(&ifd.to_le_bytes());
    file
}
