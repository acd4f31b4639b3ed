//! Color depth search (CDS) algorithms for color depth MIPs (CDMs) of neurons.
//!
//! This crate decodes CDM images from bytes, prepares masks and scores targets
//! exactly as Janelia's NeuronBridge reference implementation does (pixel-match
//! score, and the second-stage shape score). It performs no I/O beyond the bytes
//! it is handed and knows nothing of jobs, files, clouds or CLIs: callers read
//! files or objects and pass the bytes in.

pub mod decode;
pub mod image;
pub mod pixel_match;
pub mod shape;

pub use crate::decode::{decode_gray16, decode_rgb, DecodeError};
pub use crate::image::{Gray16Image, RgbImage};
