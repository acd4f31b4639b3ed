//! Color depth search, the application: libraries of target images on disk
//! (directories, files, the preprocessed index format), searches of masks
//! against them, ranked NeuronBridge-compatible results, and synthetic
//! libraries for trying and benchmarking it. The `cdsearch` binary is a thin
//! CLI over this crate.
//!
//! The algorithms (decoding, scores) live in the `cds` crate, which knows
//! nothing of files; this crate does the I/O around them. It must not depend
//! on any CLI concern: progress is reported through [`progress::Progress`].

pub mod api;
pub mod aws;
pub mod derive;
pub mod encode;
pub mod index;
pub mod job;
pub mod library;
pub mod progress;
pub mod results;
pub mod search;
pub mod shape_stage;
pub mod synth;
