//! Decompression of single strips (none, PackBits, LZW) and the horizontal
//! predictor.

use weezl::{decode::Decoder as LzwDecoder, BitOrder, LzwStatus};

use super::{Compression, DecodeError, Depth, Layout};

/// Decodes strips of one image, reusing the LZW decoder between strips.
pub(super) struct StripDecoder<'a> {
    layout: &'a Layout<'a>,
    bytes: &'a [u8],
    lzw: Option<LzwDecoder>,
}

impl<'a> StripDecoder<'a> {
    pub(super) fn new(layout: &'a Layout<'a>, bytes: &'a [u8]) -> Self {
        Self {
            layout,
            bytes,
            lzw: None,
        }
    }

    /// The stored bytes of strip `index`.
    fn stored(&self, index: usize) -> Result<&'a [u8], DecodeError> {
        let (start, end) = self.layout.strip_range(index, self.bytes.len())?;
        Ok(&self.bytes[start..end])
    }

    /// Decodes the first `n_rows` rows of strip `index` (an index over all
    /// planes) and returns them, `n_rows * plane_row_bytes` bytes, either
    /// straight from the file or from `buf`.
    pub(super) fn rows<'b>(
        &mut self,
        index: usize,
        n_rows: usize,
        buf: &'b mut Vec<u8>,
    ) -> Result<&'b [u8], DecodeError>
    where
        'a: 'b,
    {
        let row_bytes = self.layout.plane_row_bytes();
        let need = n_rows * row_bytes;
        let stored = self.stored(index)?;
        let short = |what: &str, got: usize| {
            DecodeError::Corrupt(format!(
                "TIFF {what} strip {index} holds {got} bytes, expected at least {need}"
            ))
        };
        if self.layout.compression == Compression::None && !self.layout.predictor {
            return stored
                .get(..need)
                .ok_or_else(|| short("uncompressed", stored.len()));
        }
        buf.resize(need, 0);
        let out = &mut buf[..need];
        match self.layout.compression {
            Compression::None => {
                let src = stored
                    .get(..need)
                    .ok_or_else(|| short("uncompressed", stored.len()))?;
                out.copy_from_slice(src);
            }
            Compression::PackBits => {
                unpack_bits(stored, out).map_err(|got| short("PackBits", got))?;
            }
            Compression::Lzw => {
                let lzw = self
                    .lzw
                    .get_or_insert_with(|| LzwDecoder::with_tiff_size_switch(BitOrder::Msb, 8));
                lzw.reset();
                lzw_decode(lzw, stored, out).map_err(|e| match e {
                    LzwFailure::InvalidCode(at) => DecodeError::Corrupt(format!(
                        "TIFF LZW strip {index}: code out of range after {at} bytes"
                    )),
                    LzwFailure::Ended(got) => short("LZW", got),
                })?;
            }
        }
        if self.layout.predictor {
            let stride = if self.layout.planar {
                1
            } else {
                self.layout.samples
            };
            for row in out.chunks_exact_mut(row_bytes) {
                undo_predictor(row, stride, self.layout.depth);
            }
        }
        Ok(out)
    }
}

/// Decompresses PackBits data until `dst` is full. On running out of input
/// it returns how many bytes were written.
pub(super) fn unpack_bits(src: &[u8], dst: &mut [u8]) -> Result<(), usize> {
    let mut i = 0;
    let mut o = 0;
    while o < dst.len() {
        let header = *src.get(i).ok_or(o)? as i8;
        i += 1;
        if header >= 0 {
            let len = header as usize + 1;
            let take = len.min(dst.len() - o);
            let literal = src.get(i..i + take).ok_or(o)?;
            dst[o..o + take].copy_from_slice(literal);
            i += len;
            o += take;
        } else if header != i8::MIN {
            let len = 1 + usize::from(header.unsigned_abs());
            let value = *src.get(i).ok_or(o)?;
            i += 1;
            let take = len.min(dst.len() - o);
            dst[o..o + take].fill(value);
            o += take;
        }
    }
    Ok(())
}

/// Why an LZW strip could not fill its output.
#[derive(Debug, PartialEq, Eq)]
enum LzwFailure {
    /// A code out of range, after this many output bytes.
    InvalidCode(usize),
    /// The stream (or its input) ended after this many output bytes.
    Ended(usize),
}

/// Decompresses TIFF LZW data until `dst` is full.
fn lzw_decode(lzw: &mut LzwDecoder, src: &[u8], dst: &mut [u8]) -> Result<(), LzwFailure> {
    let (mut i, mut o) = (0, 0);
    while o < dst.len() {
        let r = lzw.decode_bytes(&src[i..], &mut dst[o..]);
        i += r.consumed_in;
        o += r.consumed_out;
        match r.status {
            Err(_) => return Err(LzwFailure::InvalidCode(o)),
            Ok(LzwStatus::Done | LzwStatus::NoProgress) if o < dst.len() => {
                return Err(LzwFailure::Ended(o))
            }
            Ok(_) if r.consumed_in == 0 && r.consumed_out == 0 => return Err(LzwFailure::Ended(o)),
            Ok(_) => {}
        }
    }
    Ok(())
}

/// Adds to every sample the one `S` samples before it (8-bit rows).
fn undo_predictor8<const S: usize>(row: &mut [u8]) {
    let mut acc = [0u8; S];
    for px in row.chunks_exact_mut(S) {
        for (a, v) in acc.iter_mut().zip(px) {
            *a = a.wrapping_add(*v);
            *v = *a;
        }
    }
}

/// Undoes the horizontal predictor on one row of `stride` samples per pixel.
fn undo_predictor(row: &mut [u8], stride: usize, depth: Depth) {
    match depth {
        Depth::Eight => match stride {
            1 => undo_predictor8::<1>(row),
            3 => undo_predictor8::<3>(row),
            4 => undo_predictor8::<4>(row),
            _ => {
                for i in stride..row.len() {
                    row[i] = row[i].wrapping_add(row[i - stride]);
                }
            }
        },
        Depth::Sixteen { big_endian } => {
            let read = |b: &[u8], at: usize| {
                let pair = [b[at], b[at + 1]];
                if big_endian {
                    u16::from_be_bytes(pair)
                } else {
                    u16::from_le_bytes(pair)
                }
            };
            for at in (2 * stride..row.len().saturating_sub(1)).step_by(2) {
                let v = read(row, at).wrapping_add(read(row, at - 2 * stride));
                let pair = if big_endian {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                };
                row[at..at + 2].copy_from_slice(&pair);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_decodes_the_tiff_spec_example() {
        // The example of TIFF 6.0, section 9.
        let packed = [
            0xFE, 0xAA, 0x02, 0x80, 0x00, 0x2A, 0xFD, 0xAA, 0x03, 0x80, 0x00, 0x2A, 0x22, 0xF7,
            0xAA,
        ];
        let want = [
            0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0xAA, 0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A, 0x22,
            0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA,
        ];
        let mut out = [0u8; 24];
        assert_eq!(unpack_bits(&packed, &mut out), Ok(()));
        assert_eq!(out, want);
    }

    #[test]
    fn packbits_skips_no_ops_clamps_overlong_runs_and_reports_short_input() {
        let mut out = [0u8; 3];
        assert_eq!(unpack_bits(&[0x80, 0xFB, 7], &mut out), Ok(()));
        assert_eq!(out, [7, 7, 7]);
        let mut out = [0u8; 4];
        assert_eq!(unpack_bits(&[0x01, 1, 2, 0xFF], &mut out), Err(2));
        assert_eq!(unpack_bits(&[0x05, 1, 2], &mut out), Err(0));
    }

    #[test]
    fn lzw_round_trips_through_the_tiff_flavour() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * i % 251) as u8).collect();
        let packed = weezl::encode::Encoder::with_tiff_size_switch(BitOrder::Msb, 8)
            .encode(&data)
            .unwrap();
        let mut lzw = LzwDecoder::with_tiff_size_switch(BitOrder::Msb, 8);
        let mut out = vec![0u8; data.len()];
        assert_eq!(lzw_decode(&mut lzw, &packed, &mut out), Ok(()));
        assert_eq!(out, data);
        lzw.reset();
        let mut longer = vec![0u8; data.len() + 1];
        assert_eq!(
            lzw_decode(&mut lzw, &packed, &mut longer),
            Err(LzwFailure::Ended(data.len()))
        );
        lzw.reset();
        let garbage = [0xFF; 16];
        assert!(matches!(
            lzw_decode(&mut lzw, &garbage, &mut out),
            Err(LzwFailure::InvalidCode(_))
        ));
    }

    #[test]
    fn predictor_adds_left_neighbours() {
        let mut row = [1, 2, 3, 1, 1, 1, 255, 0, 1];
        undo_predictor(&mut row, 3, Depth::Eight);
        assert_eq!(row, [1, 2, 3, 2, 3, 4, 1, 3, 5]);
        let mut row = [1, 1, 1, 1, 1];
        undo_predictor(&mut row, 2, Depth::Eight);
        assert_eq!(row, [1, 1, 2, 2, 3]);
        let mut row = [5, 5, 5, 5, 5, 5];
        undo_predictor(&mut row, 5, Depth::Eight);
        assert_eq!(row, [5, 5, 5, 5, 5, 10]);
        let mut be = [0x00, 0xFF, 0x00, 0x01, 0xFF, 0xFF];
        undo_predictor(&mut be, 1, Depth::Sixteen { big_endian: true });
        assert_eq!(be, [0x00, 0xFF, 0x01, 0x00, 0x00, 0xFF]);
        let mut le = [0xFF, 0x00, 0x01, 0x00];
        undo_predictor(&mut le, 1, Depth::Sixteen { big_endian: false });
        assert_eq!(le, [0xFF, 0x00, 0x00, 0x01]);
    }
}
