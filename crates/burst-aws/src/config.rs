//! The one place where AWS SDK clients are configured: region, credentials, endpoints (every
//! service overridable, for emulators and other partitions) and retries.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;

use crate::retry::RetryPolicy;

/// Region used when an endpoint is overridden and no region is configured (emulators ignore it).
pub const EMULATOR_REGION: &str = "us-east-1";
/// Environment variable overriding the endpoint of every service.
pub const ENDPOINT_ENV: &str = "BURST_AWS_ENDPOINT";

/// An AWS service this crate talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Amazon S3.
    S3,
    /// Amazon DynamoDB.
    DynamoDb,
    /// AWS Lambda.
    Lambda,
    /// AWS Step Functions.
    StepFunctions,
}

impl Service {
    /// Environment variable overriding this service's endpoint (`BURST_AWS_ENDPOINT_S3`, ...).
    pub fn endpoint_env(self) -> &'static str {
        match self {
            Service::S3 => "BURST_AWS_ENDPOINT_S3",
            Service::DynamoDb => "BURST_AWS_ENDPOINT_DYNAMODB",
            Service::Lambda => "BURST_AWS_ENDPOINT_LAMBDA",
            Service::StepFunctions => "BURST_AWS_ENDPOINT_SFN",
        }
    }
}

/// Endpoint overrides: one for all services, and one per service (which wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Endpoint of every service without its own override.
    pub all: Option<String>,
    /// S3 endpoint.
    pub s3: Option<String>,
    /// DynamoDB endpoint.
    pub dynamodb: Option<String>,
    /// Lambda endpoint.
    pub lambda: Option<String>,
    /// Step Functions endpoint.
    pub sfn: Option<String>,
}

impl Endpoints {
    /// The endpoint to use for `service`, if overridden.
    pub fn of(&self, service: Service) -> Option<&str> {
        let own = match service {
            Service::S3 => &self.s3,
            Service::DynamoDb => &self.dynamodb,
            Service::Lambda => &self.lambda,
            Service::StepFunctions => &self.sfn,
        };
        own.as_deref().or(self.all.as_deref())
    }

    /// Sets the override of one service.
    pub fn set(&mut self, service: Service, url: impl Into<String>) {
        let slot = match service {
            Service::S3 => &mut self.s3,
            Service::DynamoDb => &mut self.dynamodb,
            Service::Lambda => &mut self.lambda,
            Service::StepFunctions => &mut self.sfn,
        };
        *slot = Some(url.into());
    }

    /// Whether any endpoint is overridden.
    pub fn any(&self) -> bool {
        [&self.all, &self.s3, &self.dynamodb, &self.lambda, &self.sfn]
            .iter()
            .any(|e| e.is_some())
    }

    /// Reads `BURST_AWS_ENDPOINT` and the per-service `BURST_AWS_ENDPOINT_*` variables.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut endpoints = Endpoints {
            all: var(ENDPOINT_ENV),
            ..Endpoints::default()
        };
        for service in [
            Service::S3,
            Service::DynamoDb,
            Service::Lambda,
            Service::StepFunctions,
        ] {
            if let Some(url) = var(service.endpoint_env()) {
                endpoints.set(service, url);
            }
        }
        endpoints
    }
}

/// Fixed credentials (emulators accept any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl StaticCredentials {
    /// The dummy credentials used against emulators.
    pub fn for_emulators() -> Self {
        StaticCredentials {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        }
    }
}

/// Everything needed to build the SDK clients.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AwsSettings {
    /// Region; the SDK's default chain (`AWS_REGION`, profile) when absent.
    pub region: Option<String>,
    /// Endpoint overrides.
    pub endpoints: Endpoints,
    /// Fixed credentials; the SDK's default chain when absent.
    pub credentials: Option<StaticCredentials>,
    /// Retries of every call.
    pub retry: RetryPolicy,
}

impl AwsSettings {
    /// Settings that talk to one emulator endpoint for every service, with dummy credentials.
    pub fn emulator(endpoint: impl Into<String>) -> Self {
        AwsSettings {
            region: Some(EMULATOR_REGION.into()),
            endpoints: Endpoints {
                all: Some(endpoint.into()),
                ..Endpoints::default()
            },
            credentials: Some(StaticCredentials::for_emulators()),
            retry: RetryPolicy::default(),
        }
    }

    /// Settings from the environment: endpoint overrides from `BURST_AWS_ENDPOINT*`; when one is
    /// set, the region defaults to us-east-1 and, without `AWS_ACCESS_KEY_ID`, dummy credentials
    /// are used (as emulators expect).
    pub fn from_env() -> Self {
        let endpoints = Endpoints::from_env();
        let emulated = endpoints.any();
        let region = std::env::var("AWS_REGION")
            .ok()
            .or_else(|| emulated.then(|| EMULATOR_REGION.to_string()));
        let credentials = (emulated && std::env::var_os("AWS_ACCESS_KEY_ID").is_none())
            .then(StaticCredentials::for_emulators);
        AwsSettings {
            region,
            endpoints,
            credentials,
            retry: RetryPolicy::default(),
        }
    }

    /// Loads the shared SDK configuration (region, credentials, timeouts; SDK retries off).
    pub async fn load_sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .build(),
            );
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(creds) = &self.credentials {
            loader = loader.credentials_provider(Credentials::new(
                creds.access_key_id.clone(),
                creds.secret_access_key.clone(),
                None,
                None,
                "burst-static",
            ));
        }
        loader.load().await
    }

    /// Loads the shared configuration; each service's client is built on first use (see
    /// [`AwsClients`]).
    pub async fn clients(&self) -> AwsClients {
        AwsClients {
            inner: Arc::new(Clients {
                shared: self.load_sdk_config().await,
                endpoints: self.endpoints.clone(),
                s3: OnceLock::new(),
                dynamodb: OnceLock::new(),
                lambda: OnceLock::new(),
                sfn: OnceLock::new(),
            }),
            retry: self.retry,
        }
    }
}

/// The SDK clients of one process: the shared configuration, and each service's client built
/// the first time it is asked for, then cloned into the backends (clients are cheap handles
/// over a shared connection pool). A function links and builds only the clients it uses: a
/// worker that never asks for a Lambda client carries none of the Lambda SDK.
#[derive(Debug, Clone)]
pub struct AwsClients {
    inner: Arc<Clients>,
    /// Retries of every call.
    pub retry: RetryPolicy,
}

#[derive(Debug)]
struct Clients {
    shared: SdkConfig,
    endpoints: Endpoints,
    s3: OnceLock<aws_sdk_s3::Client>,
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
    lambda: OnceLock<aws_sdk_lambda::Client>,
    sfn: OnceLock<aws_sdk_sfn::Client>,
}

impl AwsClients {
    /// The endpoint override of `service`, if any.
    fn endpoint(&self, service: Service) -> Option<&str> {
        self.inner.endpoints.of(service)
    }

    /// The S3 client (path-style addressing when the endpoint is overridden, as emulators need).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let client = self.inner.s3.get_or_init(|| {
            let mut config = aws_sdk_s3::config::Builder::from(&self.inner.shared);
            if let Some(url) = self.endpoint(Service::S3) {
                config = config.endpoint_url(url).force_path_style(true);
            }
            aws_sdk_s3::Client::from_conf(config.build())
        });
        client.clone()
    }

    /// The DynamoDB client.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let client = self.inner.dynamodb.get_or_init(|| {
            let mut config = aws_sdk_dynamodb::config::Builder::from(&self.inner.shared);
            if let Some(url) = self.endpoint(Service::DynamoDb) {
                config = config.endpoint_url(url);
            }
            aws_sdk_dynamodb::Client::from_conf(config.build())
        });
        client.clone()
    }

    /// The Lambda client.
    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        let client = self.inner.lambda.get_or_init(|| {
            let mut config = aws_sdk_lambda::config::Builder::from(&self.inner.shared);
            if let Some(url) = self.endpoint(Service::Lambda) {
                config = config.endpoint_url(url);
            }
            aws_sdk_lambda::Client::from_conf(config.build())
        });
        client.clone()
    }

    /// The Step Functions client.
    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        let client = self.inner.sfn.get_or_init(|| {
            let mut config = aws_sdk_sfn::config::Builder::from(&self.inner.shared);
            if let Some(url) = self.endpoint(Service::StepFunctions) {
                config = config.endpoint_url(url);
            }
            aws_sdk_sfn::Client::from_conf(config.build())
        });
        client.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_override_wins_over_the_shared_endpoint() {
        let mut endpoints = Endpoints {
            all: Some("http://127.0.0.1:5000".into()),
            ..Endpoints::default()
        };
        endpoints.set(Service::Lambda, "http://127.0.0.1:9000");
        assert_eq!(endpoints.of(Service::S3), Some("http://127.0.0.1:5000"));
        assert_eq!(endpoints.of(Service::Lambda), Some("http://127.0.0.1:9000"));
        assert!(endpoints.any());
        assert!(!Endpoints::default().any());
        assert_eq!(Endpoints::default().of(Service::DynamoDb), None);
    }

    #[test]
    fn emulator_settings_use_dummy_credentials_and_a_fixed_region() {
        let settings = AwsSettings::emulator("http://127.0.0.1:1");
        assert_eq!(settings.region.as_deref(), Some(EMULATOR_REGION));
        assert_eq!(
            settings.endpoints.of(Service::StepFunctions),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(
            settings.credentials,
            Some(StaticCredentials::for_emulators())
        );
    }
}
