//! Local searches: masks against a library of targets on this machine, in
//! parallel over the targets (each target read and coded once, then scored
//! against every mask).

use crate::library::LibraryEntry;
use crate::progress::Progress;
use crate::results::{rank, Hit, MaskResults, ReadStats, SearchReport, Unreadable};
use cds::decode::SizeLimit;
use cds::pixel_match::{CodedTarget, MatchError, MatchParams, MatchScore, PreparedMask};
use cds::{DecodeError, RgbImage};
use rayon::prelude::*;
use std::cell::RefCell;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Why a mask could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    /// The mask file could not be read.
    #[error("cannot read mask {path}: {source}")]
    Read {
        /// The mask file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The mask file is not a decodable image.
    #[error("cannot decode mask {path}: {source}")]
    Decode {
        /// The mask file.
        path: PathBuf,
        /// The underlying error.
        source: DecodeError,
    },
    /// The mask cannot be prepared with these parameters.
    #[error("cannot prepare mask {path}: {source}")]
    Prepare {
        /// The mask file.
        path: PathBuf,
        /// The underlying error.
        source: MatchError,
    },
}

/// Why one target could not be scored. The caller adds the target's name.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Read(#[from] std::io::Error),
    /// The bytes are not a decodable image.
    #[error("cannot decode: {0}")]
    Decode(#[from] DecodeError),
    /// A stored record is not a valid coded target.
    #[error("invalid coded target: {0}")]
    Coded(MatchError),
    /// Any other failure of a target source (e.g. a damaged index record).
    #[error("{0}")]
    Source(String),
}

/// A mask ready to be scored against targets.
#[derive(Debug)]
pub struct Mask {
    /// The mask's name in results (its path as given).
    pub name: String,
    /// The prepared mask.
    pub prepared: PreparedMask,
}

impl Mask {
    /// Reads, decodes and prepares a mask image.
    pub fn load(path: &Path, params: &MatchParams) -> Result<Self, MaskError> {
        let bytes = std::fs::read(path).map_err(|source| MaskError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let image = cds::decode_rgb(&bytes).map_err(|source| MaskError::Decode {
            path: path.to_path_buf(),
            source,
        })?;
        let prepared = PreparedMask::new(&image, params).map_err(|source| MaskError::Prepare {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            name: path.to_string_lossy().into_owned(),
            prepared,
        })
    }
}

/// Where the targets of a search come from: image files, an index, ...
pub trait TargetSource: Sync {
    /// Number of targets.
    fn len(&self) -> usize;
    /// Whether there are no targets.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The name of target `index` in results.
    fn name(&self, index: usize) -> &str;
    /// Target `index`, coded for scoring, into `out`, whose buffers a
    /// source may reuse. Only what `need` names needs to be present: a
    /// source may leave the rest empty.
    fn load_into(
        &self,
        index: usize,
        need: &TargetNeed,
        out: &mut CodedTarget,
    ) -> Result<(), TargetError>;
    /// Target `index` as a new coded target (see [`TargetSource::load_into`]).
    fn load(&self, index: usize, need: &TargetNeed) -> Result<CodedTarget, TargetError> {
        let mut out = CodedTarget::default();
        self.load_into(index, need, &mut out)?;
        Ok(out)
    }
    /// The order in which a search should take the targets: consecutive
    /// ranges, each searched in parallel before the next (a source that
    /// fetches its targets in pieces makes a range of each piece, so that
    /// the first ones are scored while later ones arrive). By default, all
    /// targets at once.
    fn chunks(&self) -> Vec<Range<usize>> {
        std::iter::once(0..self.len()).collect()
    }
    /// What reading the targets has taken so far (requests, bytes); none
    /// counted by default.
    fn reads(&self) -> ReadStats {
        ReadStats::default()
    }
}

/// What a search reads of each target: the leading rows its masks reach
/// and, for sources that code decoded images, the bitmap words the masks
/// read and the data threshold at or below which no pixel matches (coding
/// only those is the same for the scores, for a fraction of the work), and
/// the size a target must have to be decoded at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetNeed {
    rows: usize,
    /// Bitmap words in increasing order, or `None` for every word.
    words: Option<Vec<u32>>,
    threshold: u8,
    /// Checked against each target's header before anything is allocated:
    /// a small file claiming a huge size is refused, not decoded.
    size: SizeLimit,
}

impl TargetNeed {
    /// Every pixel of every row.
    pub fn all() -> Self {
        Self::first_rows(usize::MAX)
    }

    /// Every pixel of rows `0..rows`.
    pub fn first_rows(rows: usize) -> Self {
        Self {
            rows,
            words: None,
            threshold: 0,
            size: SizeLimit::default(),
        }
    }

    /// What scoring against `masks` reads.
    pub fn of(masks: &[Mask]) -> Self {
        let rows = masks
            .iter()
            .map(|m| m.prepared.rows_needed())
            .max()
            .unwrap_or(0);
        let mut words: Vec<u32> = masks
            .iter()
            .flat_map(|m| m.prepared.needed_words().iter().copied())
            .collect();
        words.sort_unstable();
        words.dedup();
        let threshold = masks
            .iter()
            .map(|m| m.prepared.params().data_threshold)
            .min()
            .unwrap_or(0);
        Self {
            rows,
            words: Some(words),
            threshold,
            size: target_size(masks),
        }
    }

    /// The size a target must have to be decoded.
    pub fn size(&self) -> SizeLimit {
        self.size
    }

    /// The number of leading rows needed.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Codes what is needed of a decoded image.
    pub fn code(&self, image: &RgbImage) -> CodedTarget {
        match &self.words {
            Some(words) => CodedTarget::encode_needed(image, words, self.threshold),
            None => CodedTarget::encode_rows(image, self.rows),
        }
    }

    /// Decodes the needed rows of an image file's bytes (into this thread's
    /// reused buffer) and codes what is needed of them.
    pub fn code_bytes(&self, bytes: &[u8]) -> Result<CodedTarget, DecodeError> {
        DECODE_BUFFER.with(|cell| {
            let mut image = cell.borrow_mut();
            cds::decode::decode_rgb_rows_into_limited(bytes, self.rows, self.size, &mut image)?;
            Ok(self.code(&image))
        })
    }
}

/// The size targets scored against `masks` must have: the masks' size when
/// they share one (a target of any other size scores against none of
/// them), else at most the largest mask's pixels.
fn target_size(masks: &[Mask]) -> SizeLimit {
    let mut sizes = masks.iter().map(|m| m.prepared.size());
    let Some((width, height)) = sizes.next() else {
        return SizeLimit::default();
    };
    if sizes.all(|s| s == (width, height)) {
        return SizeLimit::Exactly { width, height };
    }
    let largest = masks
        .iter()
        .map(|m| m.prepared.size())
        .map(|(w, h)| (w * h) as u64)
        .max()
        .unwrap_or(0);
    SizeLimit::Pixels(largest)
}

/// Targets read from image files (PNG, TIFF), decoded up to the rows the
/// masks need.
#[derive(Clone, Debug)]
pub struct FileLibrary {
    entries: Vec<LibraryEntry>,
}

impl FileLibrary {
    /// A library over these files (see [`crate::library::discover`]).
    pub fn new(entries: Vec<LibraryEntry>) -> Self {
        Self { entries }
    }

    /// The files of the library.
    pub fn entries(&self) -> &[LibraryEntry] {
        &self.entries
    }
}

thread_local! {
    /// One decoded-image buffer per thread, reused from target to target.
    static DECODE_BUFFER: RefCell<RgbImage> = RefCell::new(RgbImage::black(0, 0));
    /// One coded-target buffer per thread, reused from target to target.
    static TARGET_BUFFER: RefCell<CodedTarget> = RefCell::new(CodedTarget::default());
}

/// Reads an image file and codes what `need` names of it for scoring.
pub fn load_image_target(path: &Path, need: &TargetNeed) -> Result<CodedTarget, TargetError> {
    let bytes = std::fs::read(path)?;
    Ok(need.code_bytes(&bytes)?)
}

impl TargetSource for FileLibrary {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn name(&self, index: usize) -> &str {
        &self.entries[index].name
    }

    fn load_into(
        &self,
        index: usize,
        need: &TargetNeed,
        out: &mut CodedTarget,
    ) -> Result<(), TargetError> {
        let entry = &self.entries[index];
        if let Some(problem) = &entry.problem {
            return Err(TargetError::Source(problem.clone()));
        }
        *out = load_image_target(&entry.path, need)?;
        Ok(())
    }
}

/// What to search for and how many hits to keep.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchOptions {
    /// Pixel-match parameters (the masks must have been prepared with them).
    pub params: MatchParams,
    /// Hits kept per mask, best first.
    pub top: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            params: MatchParams::default(),
            top: 100,
        }
    }
}

/// The scores of one target against every mask (an error where the sizes
/// differ), or why it could not be read.
type TargetOutcome = Result<Vec<Result<MatchScore, MatchError>>, TargetError>;

/// Scores one target against every mask.
pub fn score_target(masks: &[Mask], target: &CodedTarget) -> Vec<Result<MatchScore, MatchError>> {
    masks
        .iter()
        .map(|m| m.prepared.score_coded(target))
        .collect()
}

/// Searches every target of `source` with every mask, in parallel on the
/// current rayon pool, and ranks the hits of each mask.
///
/// A target that cannot be read, or whose size differs from a mask's, is
/// listed in [`SearchReport::unreadable`]; the search goes on with the rest.
pub fn search(
    masks: &[Mask],
    source: &dyn TargetSource,
    options: &SearchOptions,
    progress: &dyn Progress,
) -> SearchReport {
    let need = TargetNeed::of(masks);
    progress.start(source.len() as u64);
    let mut outcomes: Vec<TargetOutcome> = Vec::with_capacity(source.len());
    for chunk in source.chunks() {
        let scored = chunk.into_par_iter().map(|index| {
            let outcome = TARGET_BUFFER.with(|cell| {
                let mut target = cell.borrow_mut();
                source
                    .load_into(index, &need, &mut target)
                    .map(|()| score_target(masks, &target))
            });
            progress.advance(1);
            outcome
        });
        outcomes.par_extend(scored);
    }
    progress.finish();
    let mut report = collect_report(masks, source, outcomes, options);
    report.reads = source.reads();
    report
}

/// Turns per-target outcomes into ranked hits per mask and unreadable entries.
fn collect_report(
    masks: &[Mask],
    source: &dyn TargetSource,
    outcomes: Vec<TargetOutcome>,
    options: &SearchOptions,
) -> SearchReport {
    let mut hits: Vec<Vec<Hit>> = vec![Vec::new(); masks.len()];
    let mut unreadable = Vec::new();
    let mut searched = 0;
    for (index, outcome) in outcomes.into_iter().enumerate() {
        let name = source.name(index);
        let scores = match outcome {
            Ok(scores) => scores,
            Err(e) => {
                tracing::debug!(target = name, error = %e, "unreadable target");
                unreadable.push(Unreadable {
                    image_name: name.to_owned(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        searched += usize::from(scores.iter().any(Result::is_ok));
        for ((mask, list), score) in masks.iter().zip(&mut hits).zip(scores) {
            match score {
                Ok(s) if s.is_hit(&options.params) => list.push(Hit {
                    image_name: name.to_owned(),
                    matching_pixels: s.matching_pixels,
                    matching_ratio: s.matching_ratio,
                    mirrored: s.mirrored,
                    library_name: None,
                    shape: None,
                }),
                Ok(_) => {}
                Err(e) => unreadable.push(Unreadable {
                    image_name: name.to_owned(),
                    reason: format!("not comparable with mask {}: {e}", mask.name),
                }),
            }
        }
    }
    SearchReport {
        masks: masks
            .iter()
            .zip(hits)
            .map(|(mask, list)| MaskResults {
                mask_id: mask.name.clone(),
                mask_pixels: mask.prepared.mask_pixel_count(),
                results: rank(list, options.top),
            })
            .collect(),
        targets: source.len(),
        searched,
        unreadable,
        reads: ReadStats::default(),
    }
}
