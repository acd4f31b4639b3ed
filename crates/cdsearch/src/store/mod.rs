//! Libraries in an object store (S3, or any [`burst::ObjectStore`]): where
//! their objects go ([`layout`]), how a directory of images gets there
//! ([`upload`]), and how workers read them ([`StoreResolver`]). Nothing here
//! depends on a cloud SDK; the stores come from the caller.

pub mod layout;
mod resolver;
pub mod upload;

pub use resolver::{BucketStores, StoreResolver};
