//! `make_bombs DIR [WIDTH HEIGHT]`: writes decompression bombs, small valid
//! files whose headers claim a huge size (10000x10000 by default) over
//! highly compressible pixel data, for scripts/bomb-memory.sh:
//!
//! - `bomb-rgb8.png`: 8-bit RGB PNG, zlib-compressed zero rows;
//! - `bomb-rgba16-interlaced.png`: interlaced 16-bit RGBA PNG (the costliest
//!   to decode: the whole frame is inflated before the first row);
//! - `bomb-lzw.tif`: 8-bit RGB TIFF, LZW strips of zeros;
//! - `bomb-packbits.tif`: 8-bit RGB TIFF, PackBits strips of zeros.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: make_bombs DIR [WIDTH HEIGHT]");
        std::process::exit(2);
    };
    let number = |i: usize| {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(10_000u32)
    };
    let (width, height) = (number(1), number(2));
    std::fs::create_dir_all(&dir)?;
    for (name, bytes) in cds_fuzz::bombs::all(width, height) {
        println!("{name}: {} bytes claiming {width}x{height}", bytes.len());
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}
