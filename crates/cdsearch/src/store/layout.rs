//! Keys of a library in an object store, as NeuronBridge lays libraries out on S3:
//!
//! - items under numbered prefixes, `<prefix>/<NN>/<relative path>` with `NN` = `00`..`99`
//!   chosen by a stable hash of the relative path, so requests spread over S3 partitions;
//! - the key list (a JSON array of object keys) in a shuffled order, so that a batch of
//!   consecutive items mixes prefixes, written as [`KEY_LIST_COPIES`] identical copies at
//!   `<prefix>/KEYS/<0..99>/keys_denormalized.json`; a worker reads one copy picked at random, so
//!   thousands of workers starting at once spread their reads of the list over 100 prefixes.
//!   Item `i` of a job is entry `i` of the list: every copy must hold the same order;
//! - the shape stage's derived images of an item next to it, at
//!   [`crate::library::derived_name`] of its key (not in the key list).
//!
//! The uploader ([`super::upload`]) writes these keys and the workers
//! ([`super::StoreResolver`]) read them: this module is their one definition.

use burst::{BackendError, ObjectStore};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::hash::fnv1a;

/// Number of shuffled key-list copies.
pub const KEY_LIST_COPIES: usize = 100;
/// Number of numbered item prefixes, unless a plan says otherwise.
pub const ITEM_PREFIXES: u64 = 100;
/// Largest number of numbered item prefixes a plan may use.
pub const MAX_ITEM_PREFIXES: u64 = 10_000;
/// File name of each key-list copy.
pub const KEY_LIST_FILE: &str = "keys_denormalized.json";
/// Folder of the key-list copies inside a library.
pub const KEY_LIST_FOLDER: &str = "KEYS";

/// `prefix` and `rest` joined by one `/` (`rest` alone when `prefix` is empty).
pub fn join_key(prefix: &str, rest: &str) -> String {
    match prefix.trim_end_matches('/') {
        "" => rest.to_owned(),
        prefix => format!("{prefix}/{rest}"),
    }
}

/// `prefix` as a listing prefix: empty, or ending with one `/`.
pub fn folder(prefix: &str) -> String {
    join_key(prefix, "")
}

/// Object key of key-list copy `copy` under `prefix`.
pub fn key_list_key(prefix: &str, copy: usize) -> String {
    join_key(prefix, &format!("{KEY_LIST_FOLDER}/{copy}/{KEY_LIST_FILE}"))
}

/// Object key of an item with relative path `relative` (`/`-separated) under `prefix`, in one
/// of [`ITEM_PREFIXES`] numbered prefixes.
pub fn item_key(prefix: &str, relative: &str) -> String {
    item_key_among(prefix, relative, ITEM_PREFIXES)
}

/// Object key of an item in one of `prefixes` numbered prefixes (at least 1), numbered with
/// at least two digits (`00`..`99` for 100; `000`..`999` for 1,000).
pub fn item_key_among(prefix: &str, relative: &str, prefixes: u64) -> String {
    let prefixes = prefixes.max(1);
    let width = (prefixes - 1).max(10).ilog10() as usize + 1;
    join_key(
        prefix,
        &format!(
            "{:0width$}/{relative}",
            fnv1a(relative.as_bytes()) % prefixes
        ),
    )
}

/// `keys` in a shuffled order, deterministic for a given `seed`.
pub fn shuffled(keys: &[String], seed: u64) -> Vec<String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut list = keys.to_vec();
    list.shuffle(&mut rng);
    list
}

/// Reads one copy of the key list of the library at `prefix`.
pub async fn read_key_list(
    store: &dyn ObjectStore,
    prefix: &str,
    copy: usize,
) -> Result<Vec<String>, BackendError> {
    let key = key_list_key(prefix, copy);
    let bytes = store.get(&key).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        BackendError::Invalid(format!(
            "key list {key} is not a JSON array of object keys: {e}"
        ))
    })
}

/// Reads a random copy of the key list at `prefix` (copy 0 when that copy is missing), so that
/// concurrent readers spread over the copies' prefixes.
pub async fn read_any_key_list(
    store: &dyn ObjectStore,
    prefix: &str,
) -> Result<Vec<String>, BackendError> {
    use rand::Rng;
    let copy = rand::thread_rng().gen_range(0..KEY_LIST_COPIES);
    match read_key_list(store, prefix, copy).await {
        Err(BackendError::NotFound(_)) if copy != 0 => read_key_list(store, prefix, 0).await,
        read => read,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_neuronbridge_layout() {
        assert_eq!(
            key_list_key("JRC2018_Unisex/FlyEM_Hemibrain/searchable_neurons/", 42),
            "JRC2018_Unisex/FlyEM_Hemibrain/searchable_neurons/KEYS/42/keys_denormalized.json"
        );
        assert_eq!(key_list_key("", 0), "KEYS/0/keys_denormalized.json");
        let key = item_key("lib", "sub/a.png");
        assert_eq!(
            key,
            format!("lib/{:02}/sub/a.png", fnv1a(b"sub/a.png") % 100)
        );
        assert_eq!(
            item_key("lib/", "sub/a.png"),
            key,
            "stable and slash-insensitive"
        );
        assert_eq!(item_key_among("lib", "sub/a.png", 100), key);
        assert_eq!(
            item_key_among("lib", "sub/a.png", 1000),
            format!("lib/{:03}/sub/a.png", fnv1a(b"sub/a.png") % 1000)
        );
        assert_eq!(item_key_among("lib", "a", 1), "lib/00/a");
        assert_eq!(item_key_among("lib", "a", 0), "lib/00/a");
        assert_eq!(folder("a/b"), "a/b/");
        assert_eq!(folder("a/b/"), "a/b/");
        assert_eq!(folder(""), "");
    }

    #[test]
    fn the_shuffle_is_a_reproducible_permutation() {
        let keys: Vec<String> = (0..50).map(|i| format!("k{i:02}")).collect();
        let list = shuffled(&keys, 7);
        assert_eq!(list, shuffled(&keys, 7));
        assert_ne!(list, keys);
        assert_ne!(list, shuffled(&keys, 8));
        let mut sorted = list.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
    }
}
