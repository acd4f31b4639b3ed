//! The AWS backends of a function, built once per cold start from the environment. Each
//! function builds only the backends (and so the SDK clients) it uses: a constructor per role,
//! so that a binary links only its own clients (the worker, for one, carries no Lambda or Step
//! Functions SDK code). A backend a role does not use answers every call with an error naming
//! what is missing.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use burst::manager::Deployment;
use burst::{BackendError, Invoker, ObjectInfo, ObjectStore, Page, StateMachineStarter, TaskTable};
use burst_aws::{
    AwsClients, AwsSettings, DynamoTaskTable, LambdaInvoker, S3ObjectStore, SfnStarter,
};
use serde_json::Value;

use crate::config::FunctionEnv;

/// Everything a handler talks to: burst's backends over AWS, the deployment's names, and the
/// SDK clients (for stores over other buckets, e.g. a search's library buckets).
#[derive(Clone)]
pub struct AwsBackends {
    /// Task table, search bucket, Lambda invoker, state machine (those the role uses).
    pub burst: burst::Backends,
    /// Names of the deployment's functions and table.
    pub deployment: Deployment,
    /// The SDK clients.
    pub clients: AwsClients,
}

/// A backend the function was not given: every call fails, naming it.
struct NotConfigured(&'static str);

impl NotConfigured {
    fn error(&self, call: &str) -> BackendError {
        BackendError::Invalid(format!(
            "{call}: this function has no {} (template.yaml gives it none)",
            self.0
        ))
    }
}

#[async_trait]
impl ObjectStore for NotConfigured {
    async fn get(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        Err(self.error(&format!("get {key}")))
    }

    async fn get_range(&self, key: &str, _range: Range<u64>) -> Result<Vec<u8>, BackendError> {
        Err(self.error(&format!("get {key}")))
    }

    async fn put(&self, key: &str, _bytes: Vec<u8>) -> Result<(), BackendError> {
        Err(self.error(&format!("put {key}")))
    }

    async fn list(
        &self,
        prefix: &str,
        _page_token: Option<&str>,
    ) -> Result<Page<ObjectInfo>, BackendError> {
        Err(self.error(&format!("list {prefix}")))
    }
}

#[async_trait]
impl Invoker for NotConfigured {
    async fn invoke(&self, function_name: &str, _payload: Value) -> Result<(), BackendError> {
        Err(self.error(&format!("invoke {function_name}")))
    }
}

#[async_trait]
impl StateMachineStarter for NotConfigured {
    async fn start_execution(&self, name: &str, _input: Value) -> Result<String, BackendError> {
        Err(self.error(&format!("start execution {name}")))
    }
}

/// Which SDK-backed parts a role uses, each built by its caller (so that only the callers of a
/// constructor link it).
struct Parts {
    store: Option<Arc<dyn ObjectStore>>,
    invoker: Option<Arc<dyn Invoker>>,
    starter: Option<Arc<dyn StateMachineStarter>>,
}

impl AwsBackends {
    /// Reads the SDK settings from the environment (see [`AwsSettings::from_env`]) and builds
    /// the backends of a role with `role` (e.g. [`AwsBackends::worker`]) over the lean Lambda
    /// configuration ([`AwsSettings::lambda_clients`]: region and credentials from the
    /// environment Lambda sets, compiled-in Amazon roots; no default credential chain).
    pub fn from_env(env: &FunctionEnv, role: fn(&FunctionEnv, AwsClients) -> AwsBackends) -> Self {
        role(env, AwsSettings::from_env().lambda_clients())
    }

    fn build(env: &FunctionEnv, clients: AwsClients, parts: Parts) -> Self {
        let tasks: Arc<dyn TaskTable> =
            Arc::new(DynamoTaskTable::new(&clients, env.tasks_table.clone()));
        AwsBackends {
            burst: burst::Backends {
                tasks,
                store: parts
                    .store
                    .unwrap_or_else(|| Arc::new(NotConfigured("object store"))),
                invoker: parts
                    .invoker
                    .unwrap_or_else(|| Arc::new(NotConfigured("Lambda invoker"))),
                starter: parts
                    .starter
                    .unwrap_or_else(|| Arc::new(NotConfigured("state machine"))),
            },
            deployment: Deployment {
                manager_function_name: env.manager_function.clone(),
                monitor_function_name: env.monitor_function.clone(),
                tasks_table_name: env.tasks_table.clone(),
            },
            clients,
        }
    }

    fn search_bucket(env: &FunctionEnv, clients: &AwsClients) -> Option<Arc<dyn ObjectStore>> {
        Some(Arc::new(S3ObjectStore::new(
            clients,
            env.search_bucket.clone(),
        )))
    }

    fn lambda(clients: &AwsClients) -> Option<Arc<dyn Invoker>> {
        Some(Arc::new(LambdaInvoker::new(clients)))
    }

    fn state_machine(
        env: &FunctionEnv,
        clients: &AwsClients,
    ) -> Option<Arc<dyn StateMachineStarter>> {
        let arn = env.state_machine_arn.clone()?;
        Some(Arc::new(SfnStarter::new(clients, arn)))
    }

    /// Every backend: task table, search bucket, invoker and (with its ARN) the state machine,
    /// for tests and tools that act as any function of the deployment.
    pub fn all(env: &FunctionEnv, clients: AwsClients) -> Self {
        let parts = Parts {
            store: Self::search_bucket(env, &clients),
            invoker: Self::lambda(&clients),
            starter: Self::state_machine(env, &clients),
        };
        Self::build(env, clients, parts)
    }

    /// The manager's: task table (job status), invoker (managers, workers), state machine.
    pub fn manager(env: &FunctionEnv, clients: AwsClients) -> Self {
        let parts = Parts {
            store: None,
            invoker: Self::lambda(&clients),
            starter: Self::state_machine(env, &clients),
        };
        Self::build(env, clients, parts)
    }

    /// The worker's: the task table and the search bucket (partial results too large for a
    /// row go to its `partials/` prefix); its libraries are read through
    /// [`crate::search_worker`]'s S3 stores.
    pub fn worker(env: &FunctionEnv, clients: AwsClients) -> Self {
        let parts = Parts {
            store: Self::search_bucket(env, &clients),
            invoker: None,
            starter: None,
        };
        Self::build(env, clients, parts)
    }

    /// The monitor's: task table, invoker (retries, stragglers), search bucket (the outcome of
    /// a failed job).
    pub fn monitor(env: &FunctionEnv, clients: AwsClients) -> Self {
        let parts = Parts {
            store: Self::search_bucket(env, &clients),
            invoker: Self::lambda(&clients),
            starter: None,
        };
        Self::build(env, clients, parts)
    }

    /// The combiner's: task table and search bucket (the job's outcome).
    pub fn combiner(env: &FunctionEnv, clients: AwsClients) -> Self {
        let parts = Parts {
            store: Self::search_bucket(env, &clients),
            invoker: None,
            starter: None,
        };
        Self::build(env, clients, parts)
    }

    /// The search API's: task table (progress), search bucket (searches), invoker (manager).
    pub fn api(env: &FunctionEnv, clients: AwsClients) -> Self {
        Self::monitor(env, clients)
    }
}
