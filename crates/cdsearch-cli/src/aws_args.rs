//! Flags of the commands that talk to AWS (or an emulator): endpoint and region.

use burst_aws::config::EMULATOR_REGION;
use burst_aws::{AwsClients, AwsSettings, StaticCredentials};
use clap::Args;

/// Where AWS is.
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// Endpoint URL of every AWS service, e.g. an emulator (http://127.0.0.1:5000); by default
    /// AWS itself, or `BURST_AWS_ENDPOINT`. Without AWS_ACCESS_KEY_ID, dummy credentials are used.
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// AWS region (default: the SDK's, from AWS_REGION or the profile).
    #[arg(long)]
    region: Option<String>,
}

impl AwsArgs {
    /// The SDK settings: the environment's (see `AwsSettings::from_env`), with these flags on top.
    pub fn settings(&self) -> AwsSettings {
        let mut settings = AwsSettings::from_env();
        if let Some(url) = &self.endpoint {
            settings.endpoints.all = Some(url.clone());
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                settings.credentials = Some(StaticCredentials::for_emulators());
            }
            settings
                .region
                .get_or_insert_with(|| EMULATOR_REGION.into());
        }
        if let Some(region) = &self.region {
            settings.region = Some(region.clone());
        }
        settings
    }

    /// Builds the clients.
    pub async fn clients(&self) -> AwsClients {
        self.settings().clients().await
    }
}

/// A runtime for the async AWS calls of one command.
pub fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

/// A library in a bucket, described once: its job parameters (index manifest
/// or size), the store of its bucket, and the clients.
pub struct BucketLibrary {
    /// Its parameters in jobs.
    pub params: cdsearch::job::LibraryParameters,
    /// The store of its bucket.
    pub store: std::sync::Arc<dyn burst::ObjectStore>,
    /// The AWS clients it was read with.
    pub clients: AwsClients,
}

/// Describes the library at `prefix` of `bucket` as `name` (its index
/// manifest, else its key list), naming it in the error.
pub fn describe_bucket_library(
    tokio: &tokio::runtime::Runtime,
    aws: &AwsArgs,
    bucket: &str,
    prefix: &str,
    name: &str,
) -> anyhow::Result<BucketLibrary> {
    use anyhow::Context;
    tokio.block_on(async {
        let clients = aws.clients().await;
        let store: std::sync::Arc<dyn burst::ObjectStore> =
            std::sync::Arc::new(burst_aws::S3ObjectStore::new(&clients, bucket));
        let params = cdsearch::store::describe_library(store.as_ref(), bucket, prefix, name)
            .await
            .with_context(|| format!("library s3://{bucket}/{prefix}"))?;
        Ok(BucketLibrary {
            params,
            store,
            clients,
        })
    })
}
