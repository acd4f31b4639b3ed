//! Color depth search on AWS: the S3 object stores a search reads
//! libraries and masks from ([`s3_library_resolver`], shared by the Lambda
//! worker and by `cdsearch search --library s3://...`), libraries uploaded
//! to S3 and listed from it ([`upload`], [`catalog`]), and searches submitted
//! to a deployed stack and followed to their ranked result ([`submit`]).
//!
//! The search itself (layout, worker, combiner) is `cdsearch`'s and knows
//! no SDK; this crate only supplies the AWS clients (`burst-aws`).

pub mod catalog;
mod error;
pub mod submit;
pub mod upload;

use std::sync::Arc;

use burst::ObjectStore;
use burst_aws::{AwsClients, S3ObjectStore};
use cdsearch::store::{StoreResolver, FETCH_CONCURRENCY};

pub use error::AwsError;
pub use submit::{follow, name_masks, submit, FollowOptions, Submission};
pub use upload::{library_parameters, plan_library_upload};

/// A resolver reading masks, libraries and derived images from the S3
/// buckets a job names, through `clients`.
pub fn s3_library_resolver(clients: &AwsClients) -> StoreResolver {
    let clients = clients.clone();
    StoreResolver::new(
        move |bucket: &str| {
            Ok(Arc::new(S3ObjectStore::new(&clients, bucket)) as Arc<dyn ObjectStore>)
        },
        FETCH_CONCURRENCY,
    )
}
