//! The AWS backends of a function, built once per cold start from the environment.

use std::sync::Arc;

use async_trait::async_trait;
use burst::manager::Deployment;
use burst::{BackendError, ObjectStore, StateMachineStarter};
use burst_aws::{
    AwsClients, AwsSettings, DynamoTaskTable, LambdaInvoker, S3ObjectStore, SfnStarter,
};
use serde_json::Value;

use crate::config::{FunctionEnv, STATE_MACHINE_VAR};

/// Everything a handler talks to: burst's backends over AWS, the deployment's names, and the
/// SDK clients (for stores over other buckets, e.g. a search's library buckets).
#[derive(Clone)]
pub struct AwsBackends {
    /// Task table, search bucket, Lambda invoker, state machine.
    pub burst: burst::Backends,
    /// Names of the deployment's functions and table.
    pub deployment: Deployment,
    /// The SDK clients.
    pub clients: AwsClients,
}

/// The starter of functions that start no state machine (all but the manager): calling it is a
/// configuration error, reported as such.
struct NoStateMachine;

#[async_trait]
impl StateMachineStarter for NoStateMachine {
    async fn start_execution(&self, name: &str, _input: Value) -> Result<String, BackendError> {
        Err(BackendError::Invalid(format!(
            "cannot start execution {name}: {STATE_MACHINE_VAR} is not set for this function"
        )))
    }
}

impl AwsBackends {
    /// Builds the clients (endpoints, region and credentials from the environment, see
    /// [`AwsSettings::from_env`]) and the backends over them.
    pub async fn new(env: &FunctionEnv) -> Self {
        Self::with_settings(env, &AwsSettings::from_env()).await
    }

    /// Builds the clients from `settings` and the backends over them (tests and tools that talk
    /// to the same deployment as the functions).
    pub async fn with_settings(env: &FunctionEnv, settings: &AwsSettings) -> Self {
        let clients = settings.clients().await;
        let starter: Arc<dyn StateMachineStarter> = match &env.state_machine_arn {
            Some(arn) => Arc::new(SfnStarter::new(&clients, arn.clone())),
            None => Arc::new(NoStateMachine),
        };
        AwsBackends {
            burst: burst::Backends {
                tasks: Arc::new(DynamoTaskTable::new(&clients, env.tasks_table.clone())),
                store: Arc::new(S3ObjectStore::new(&clients, env.search_bucket.clone())),
                invoker: Arc::new(LambdaInvoker::new(&clients)),
                starter,
            },
            deployment: Deployment {
                manager_function_name: env.manager_function.clone(),
                monitor_function_name: env.monitor_function.clone(),
                tasks_table_name: env.tasks_table.clone(),
            },
            clients,
        }
    }

    /// An object store over `bucket` with the same clients.
    pub fn bucket(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        Arc::new(S3ObjectStore::new(&self.clients, bucket))
    }
}
