//! Libraries in an object store (S3, or any [`burst::ObjectStore`]), in
//! either form: one object per image with NeuronBridge's key lists
//! ([`layout`]), or coded targets in index shards ([`shards`]); how a
//! library gets there ([`upload`]), and how workers read it
//! ([`StoreResolver`], [`ShardedSource`]), counting requests and bytes. Nothing here
//! depends on a cloud SDK; the stores come from the caller.

mod counting;
mod describe;
pub mod index_upload;
pub mod layout;
mod resolver;
mod shard_source;
pub mod shards;
pub mod upload;

pub use counting::{CountingStore, ReadCounter};
pub use describe::describe_library;
pub use resolver::{BucketStores, StoreResolver, FETCH_CONCURRENCY, INDEX_CONCURRENCY};
pub use shard_source::{FetchOptions, IndexBatch, ShardedSource};
