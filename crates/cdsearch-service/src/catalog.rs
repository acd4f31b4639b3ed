//! The named image collections a server offers: the target libraries and the
//! stored masks, each listed once at start-up from local directories.

use cds::pixel_match::CodedTarget;
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

/// Everything a server can search with and in.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// Target libraries, in the order configured.
    pub libraries: Vec<Arc<Collection>>,
    /// Masks stored on the server that searches may reference by name.
    pub masks: Collection,
}

impl Catalog {
    /// The library named `name`.
    pub fn library(&self, name: &str) -> Option<&Arc<Collection>> {
        self.libraries.iter().find(|l| l.name == name)
    }

    /// The names of the libraries.
    pub fn library_names(&self) -> Vec<String> {
        self.libraries.iter().map(|l| l.name.clone()).collect()
    }
}
