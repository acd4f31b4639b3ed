//! The named image collections a server offers: the target libraries (local
//! directories listed once at start-up, or libraries in an object store
//! described once at start-up) and the stored masks.

use burst::ObjectStore;
use cds::pixel_match::CodedTarget;
use cdsearch::job::LibraryParameters;
use cdsearch::library::{discover, LibraryEntry, LibraryError};
use cdsearch::search::{FileLibrary, TargetError, TargetNeed, TargetSource};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A named collection of image files (a library, or the stored masks).
#[derive(Clone, Debug)]
pub struct Collection {
    name: String,
    files: FileLibrary,
    by_name: HashMap<String, usize>,
}

impl Collection {
    /// Lists the images under `paths` (directories walked recursively, see
    /// [`discover`]) as collection `name`.
    pub fn discover(name: &str, paths: &[PathBuf]) -> Result<Self, LibraryError> {
        Ok(Self::new(name, discover(paths)?))
    }

    /// A collection of these entries.
    pub fn new(name: &str, entries: Vec<LibraryEntry>) -> Self {
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        Self {
            name: name.to_owned(),
            files: FileLibrary::new(entries),
            by_name,
        }
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its images, in search order.
    pub fn entries(&self) -> &[LibraryEntry] {
        self.files.entries()
    }

    /// The image named `name` (its name in results).
    pub fn get(&self, name: &str) -> Option<&LibraryEntry> {
        self.by_name.get(name).map(|&i| &self.entries()[i])
    }

    /// The names of its images, in order.
    pub fn names(&self) -> Vec<String> {
        self.entries().iter().map(|e| e.name.clone()).collect()
    }
}

/// A collection is searched as its image files.
impl TargetSource for Collection {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn name(&self, index: usize) -> &str {
        self.files.name(index)
    }

    fn load_into(
        &self,
        index: usize,
        need: &TargetNeed,
        out: &mut CodedTarget,
    ) -> Result<(), TargetError> {
        self.files.load_into(index, need, out)
    }
}

/// A library in an object store (e.g. `s3://bucket/prefix`), searched through
/// the object-store reader of the Lambda worker.
#[derive(Clone)]
pub struct StoreLibrary {
    /// Its parameters in jobs (name, bucket, folder, size, index manifest).
    pub params: LibraryParameters,
    /// The store of its bucket.
    pub store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for StoreLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreLibrary")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// A library a server offers.
#[derive(Clone, Debug)]
pub enum ServedLibrary {
    /// Image files on this machine.
    Files(Arc<Collection>),
    /// A library in an object store.
    Store(Arc<StoreLibrary>),
}

impl ServedLibrary {
    /// Its name in requests and results.
    pub fn name(&self) -> &str {
        match self {
            ServedLibrary::Files(c) => c.name(),
            ServedLibrary::Store(s) => &s.params.library_name,
        }
    }

    /// Its number of targets.
    pub fn len(&self) -> usize {
        match self {
            ServedLibrary::Files(c) => c.entries().len(),
            ServedLibrary::Store(s) => s.params.lsize as usize,
        }
    }

    /// Whether it has no targets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Everything a server can search with and in.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// Target libraries, in the order configured.
    pub libraries: Vec<ServedLibrary>,
    /// Masks stored on the server that searches may reference by name.
    pub masks: Collection,
}

impl Catalog {
    /// The library named `name`.
    pub fn library(&self, name: &str) -> Option<&ServedLibrary> {
        self.libraries.iter().find(|l| l.name() == name)
    }

    /// The names of the libraries.
    pub fn library_names(&self) -> Vec<String> {
        self.libraries.iter().map(|l| l.name().to_owned()).collect()
    }
}
