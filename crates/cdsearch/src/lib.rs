//! Color depth search, the core of the application: libraries of target
//! images on disk (directories, files, the preprocessed index format) and in
//! an object store ([`store`]), searches of masks against them ([`search`]),
//! color depth search as a burst job ([`job`]: parameters, worker, combiners),
//! the shape stage ([`shape_stage`]), ranked NeuronBridge-compatible results,
//! derived images and synthetic libraries for trying and benchmarking it.
//!
//! The algorithms (decoding, scores) live in the `cds` crate, which knows
//! nothing of files; this crate does the I/O around them. It must not depend
//! on a CLI, HTTP or cloud SDK crate: the `cdsearch-cli` binary, the
//! `cdsearch-service` HTTP service and the `cdsearch-lambda` functions are
//! built on it. Progress is reported through [`progress::Progress`]; object
//! stores come in through `burst`'s traits.

pub mod derive;
pub mod encode;
pub mod hash;
pub mod index;
pub mod job;
pub mod library;
pub mod neuronbridge;
pub mod progress;
pub mod results;
pub mod search;
pub mod shape_stage;
pub mod store;
pub mod synth;
