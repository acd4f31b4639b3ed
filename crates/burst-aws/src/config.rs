//! The one place where AWS SDK clients are configured: region, credentials, endpoints (every
//! service overridable, for emulators and other partitions) and retries.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::Credentials;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::ConnectorBuilder;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

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
    /// Amazon CloudWatch Logs.
    Logs,
    /// AWS Secrets Manager.
    SecretsManager,
    /// Amazon SQS.
    Sqs,
}

/// Every service, in the order of [`Endpoints`]' fields.
const SERVICES: [Service; 7] = [
    Service::S3,
    Service::DynamoDb,
    Service::Lambda,
    Service::StepFunctions,
    Service::Logs,
    Service::SecretsManager,
    Service::Sqs,
];

impl Service {
    /// Environment variable overriding this service's endpoint (`BURST_AWS_ENDPOINT_S3`, ...).
    pub fn endpoint_env(self) -> &'static str {
        match self {
            Service::S3 => "BURST_AWS_ENDPOINT_S3",
            Service::DynamoDb => "BURST_AWS_ENDPOINT_DYNAMODB",
            Service::Lambda => "BURST_AWS_ENDPOINT_LAMBDA",
            Service::StepFunctions => "BURST_AWS_ENDPOINT_SFN",
            Service::Logs => "BURST_AWS_ENDPOINT_LOGS",
            Service::SecretsManager => "BURST_AWS_ENDPOINT_SECRETSMANAGER",
            Service::Sqs => "BURST_AWS_ENDPOINT_SQS",
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
    /// CloudWatch Logs endpoint.
    pub logs: Option<String>,
    /// Secrets Manager endpoint.
    pub secretsmanager: Option<String>,
    /// SQS endpoint.
    pub sqs: Option<String>,
}

impl Endpoints {
    /// The endpoint to use for `service`, if overridden.
    pub fn of(&self, service: Service) -> Option<&str> {
        let own = match service {
            Service::S3 => &self.s3,
            Service::DynamoDb => &self.dynamodb,
            Service::Lambda => &self.lambda,
            Service::StepFunctions => &self.sfn,
            Service::Logs => &self.logs,
            Service::SecretsManager => &self.secretsmanager,
            Service::Sqs => &self.sqs,
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
            Service::Logs => &mut self.logs,
            Service::SecretsManager => &mut self.secretsmanager,
            Service::Sqs => &mut self.sqs,
        };
        *slot = Some(url.into());
    }

    /// Whether any endpoint is overridden.
    pub fn any(&self) -> bool {
        self.all.is_some() || SERVICES.iter().any(|&s| self.of(s).is_some())
    }

    /// Reads `BURST_AWS_ENDPOINT` and the per-service `BURST_AWS_ENDPOINT_*` variables.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut endpoints = Endpoints {
            all: var(ENDPOINT_ENV),
            ..Endpoints::default()
        };
        for service in SERVICES {
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

    /// The static credentials, if any, as an SDK credentials value.
    fn static_credentials(&self) -> Option<Credentials> {
        self.credentials.as_ref().map(|creds| {
            Credentials::new(
                creds.access_key_id.clone(),
                creds.secret_access_key.clone(),
                None,
                None,
                "burst-static",
            )
        })
    }

    /// Loads the shared SDK configuration through the SDK's default chain (environment,
    /// profiles and SSO, web identity, container and instance metadata), as people running the
    /// CLI on their machines expect; trusts the platform's root certificates. SDK retries off.
    pub async fn load_sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client(Trust::Platform))
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts());
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(credentials) = self.static_credentials() {
            loader = loader.credentials_provider(credentials);
        }
        loader.load().await
    }

    /// The shared SDK configuration of a Lambda function, built from what Lambda puts in the
    /// environment and nothing else: the region of [`AwsSettings::from_env`] (`AWS_REGION`)
    /// and the credentials of `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN` (or the static ones). No profile files, SSO, STS web identity or
    /// instance metadata: their code stays out of the bootstraps and their set-up out of the
    /// cold start. TLS trusts the Amazon Trust Services roots compiled in (see [`Trust`]).
    pub fn lambda_sdk_config(&self) -> SdkConfig {
        let credentials = match self.static_credentials() {
            Some(credentials) => SharedCredentialsProvider::new(credentials),
            None => SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()),
        };
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(self.region.clone().map(Region::new))
            .credentials_provider(credentials)
            .http_client(https_client(Trust::lambda_from_env()))
            .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
            .time_source(SharedTimeSource::new(SystemTimeSource::new()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts())
            .build()
    }

    /// Loads the shared configuration through the default chain ([`Self::load_sdk_config`]);
    /// each service's client is built on first use (see [`AwsClients`]).
    pub async fn clients(&self) -> AwsClients {
        AwsClients::new(self, self.load_sdk_config().await)
    }

    /// The clients of a Lambda function ([`Self::lambda_sdk_config`]).
    pub fn lambda_clients(&self) -> AwsClients {
        AwsClients::new(self, self.lambda_sdk_config())
    }
}

/// Connect timeout of every call (SDK timeouts otherwise default).
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
}

/// The Amazon Trust Services root certificates (PEM), which AWS service endpoints chain to.
const AMAZON_ROOTS_PEM: &[u8] = include_bytes!("amazon-roots.pem");

/// The root certificates HTTPS connections trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The platform's store (rustls-native-certs: `SSL_CERT_FILE`/`SSL_CERT_DIR`, else the
    /// system bundle and certificate directory), for the CLI: machines behind a TLS-inspecting
    /// proxy add their own root there. Reading and parsing it takes milliseconds (every file
    /// of `/etc/ssl/certs`), which a Lambda cold start would pay each time.
    Platform,
    /// Only the Amazon Trust Services roots, compiled in: every AWS endpoint a function calls
    /// chains to them, and nothing is read at start.
    AmazonRoots,
}

impl Trust {
    /// What a Lambda function trusts: the Amazon roots, unless `SSL_CERT_FILE` or
    /// `SSL_CERT_DIR` names a store (e.g. for an endpoint override with another CA).
    pub fn lambda_from_env() -> Self {
        Self::lambda_from_vars(|name| std::env::var(name).ok())
    }

    /// [`Trust::lambda_from_env`] over the variables `var` reads.
    pub fn lambda_from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let named = |name: &str| var(name).is_some_and(|v| !v.is_empty());
        if named("SSL_CERT_FILE") || named("SSL_CERT_DIR") {
            Trust::Platform
        } else {
            Trust::AmazonRoots
        }
    }

    fn tls_context(self) -> TlsContext {
        let store = match self {
            Trust::Platform => TrustStore::default(),
            Trust::AmazonRoots => TrustStore::empty().with_pem_certificate(AMAZON_ROOTS_PEM),
        };
        TlsContext::builder()
            .with_trust_store(store)
            .build()
            .expect("a TLS context with a trust store always builds")
    }
}

/// The HTTPS client of every SDK client: hyper 1 over rustls with the ring provider (a fraction
/// of aws-lc's size in the Lambda bootstraps), the proxy of `HTTPS_PROXY`/`NO_PROXY` as the
/// SDK's own default client does. The trust store is read when the first client is built.
fn https_client(trust: Trust) -> SharedHttpClient {
    let context = trust.tls_context();
    aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
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
    /// The clients of `settings` over the shared configuration `shared`, none built yet.
    fn new(settings: &AwsSettings, shared: SdkConfig) -> Self {
        AwsClients {
            inner: Arc::new(Clients {
                shared,
                endpoints: settings.endpoints.clone(),
                s3: OnceLock::new(),
                dynamodb: OnceLock::new(),
                lambda: OnceLock::new(),
                sfn: OnceLock::new(),
            }),
            retry: settings.retry,
        }
    }

    /// The endpoint override of `service`, if any.
    pub fn endpoint(&self, service: Service) -> Option<&str> {
        self.inner.endpoints.of(service)
    }

    /// The shared SDK configuration (region, credentials, timeouts), for clients of services
    /// this crate does not build itself (e.g. burst-alerts' CloudWatch Logs and SQS clients:
    /// `Builder::from(clients.sdk_config())`, plus [`AwsClients::endpoint`]).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.inner.shared
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

    #[test]
    fn the_compiled_in_roots_are_the_five_amazon_trust_anchors() {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::CertificateDer;
        let certs = CertificateDer::pem_slice_iter(AMAZON_ROOTS_PEM)
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(certs.len(), 5);
        let mut roots = rustls::RootCertStore::empty();
        let (added, rejected) = roots.add_parsable_certificates(certs);
        assert_eq!((added, rejected), (5, 0));
    }

    #[test]
    fn a_lambda_configuration_comes_from_the_settings_alone() {
        let settings = AwsSettings {
            region: Some("eu-west-1".into()),
            credentials: Some(StaticCredentials::for_emulators()),
            ..AwsSettings::default()
        };
        let clients = settings.lambda_clients();
        let config = clients.sdk_config();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(config.credentials_provider().is_some());
        assert!(config.http_client().is_some());
        assert!(config.sleep_impl().is_some());
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(1));
        // Building a client builds its HTTPS connector, and so the trust store from the PEM.
        let s3 = clients.s3();
        assert_eq!(s3.config().region().map(|r| r.as_ref()), Some("eu-west-1"));
    }

    #[test]
    fn lambda_functions_trust_a_named_store_over_the_amazon_roots() {
        let none = |_: &str| None;
        assert_eq!(Trust::lambda_from_vars(none), Trust::AmazonRoots);
        let empty = |_: &str| Some(String::new());
        assert_eq!(Trust::lambda_from_vars(empty), Trust::AmazonRoots);
        for named in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
            let var = |n: &str| (n == named).then(|| "/etc/pki/ca.pem".to_string());
            assert_eq!(Trust::lambda_from_vars(var), Trust::Platform);
        }
    }
}
