//! What can go wrong on the way to or from AWS.

use std::path::PathBuf;

use burst::{BackendError, BurstError};
use cdsearch::job::JobError;
use cdsearch::library::LibraryError;

/// What went wrong on the way to or from AWS.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The library directory could not be listed.
    #[error(transparent)]
    Library(#[from] LibraryError),
    /// A call to S3, DynamoDB, Lambda or Step Functions failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Reading the job's status or outcome failed.
    #[error(transparent)]
    Burst(#[from] BurstError),
    /// The search parameters are not valid.
    #[error(transparent)]
    Job(#[from] JobError),
    /// An argument is not usable; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// A local file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The job did not get to a result.
    #[error("job {job_id}: {message}")]
    JobFailed {
        /// The job.
        job_id: String,
        /// What happened, and where to look.
        message: String,
    },
}
