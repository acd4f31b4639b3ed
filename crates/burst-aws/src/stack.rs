//! A deployed stack (`template.yaml`) as a client sees it: the names of its functions, the
//! settings they run with (read back from the manager function's environment, so a client
//! needs only the stack name), and the state of a job's monitor execution.

use std::collections::HashMap;

use aws_sdk_sfn::types::ExecutionStatus;
use burst::BackendError;

use crate::config::AwsClients;
use crate::retry::with_retries;
use crate::sfn::execution_arn;

/// Environment variable naming the task table.
pub const TASKS_TABLE_VAR: &str = "BURST_TASKS_TABLE";
/// Environment variable naming the bucket for uploaded masks and job outcomes.
pub const SEARCH_BUCKET_VAR: &str = "BURST_SEARCH_BUCKET";
/// Environment variable holding the ARN of the monitor state machine (manager only).
pub const STATE_MACHINE_VAR: &str = "BURST_STATE_MACHINE_ARN";
/// Environment variable naming the manager function.
pub const MANAGER_FUNCTION_VAR: &str = "BURST_MANAGER_FUNCTION";
/// Environment variable naming the monitor function.
pub const MONITOR_FUNCTION_VAR: &str = "BURST_MONITOR_FUNCTION";

/// The functions a job names: the manager it is sent to, its worker and its combiner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackFunctions {
    /// The manager (dispatch) function.
    pub manager: String,
    /// The worker function.
    pub worker: String,
    /// The combiner function.
    pub combiner: String,
}

impl StackFunctions {
    /// The functions of stack `stack` as template.yaml names them (`<stack>-manager`, ...).
    pub fn of_stack(stack: &str) -> Self {
        StackFunctions {
            manager: format!("{stack}-manager"),
            worker: format!("{stack}-worker"),
            combiner: format!("{stack}-combiner"),
        }
    }
}

/// What a client needs to start and follow jobs on a deployed stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// Its functions.
    pub functions: StackFunctions,
    /// The task table (job status records and batch rows).
    pub tasks_table: String,
    /// The bucket for uploaded masks and job outcomes.
    pub search_bucket: String,
    /// The monitor state machine, if the manager names one.
    pub state_machine_arn: Option<String>,
}

impl Stack {
    /// The stack whose manager function runs with environment `env`.
    pub fn from_environment(
        functions: StackFunctions,
        env: &HashMap<String, String>,
    ) -> Result<Self, BackendError> {
        let var = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();
        let required = |name: &str| {
            var(name).ok_or_else(|| {
                BackendError::Invalid(format!(
                    "function {} has no environment variable {name} (is it a manager deployed \
                     by template.yaml?)",
                    functions.manager
                ))
            })
        };
        Ok(Stack {
            tasks_table: required(TASKS_TABLE_VAR)?,
            search_bucket: required(SEARCH_BUCKET_VAR)?,
            state_machine_arn: var(STATE_MACHINE_VAR),
            functions,
        })
    }

    /// Reads the settings of the stack from its manager function's configuration.
    pub async fn discover(
        clients: &AwsClients,
        functions: StackFunctions,
    ) -> Result<Self, BackendError> {
        let env = function_environment(clients, &functions.manager).await?;
        Self::from_environment(functions, &env)
    }
}

/// The environment variables of a Lambda function.
pub async fn function_environment(
    clients: &AwsClients,
    function: &str,
) -> Result<HashMap<String, String>, BackendError> {
    let output = with_retries(&clients.retry, "Lambda GetFunctionConfiguration", || {
        clients
            .lambda()
            .get_function_configuration()
            .function_name(function)
            .send()
    })
    .await
    .map_err(|e| e.into_backend(&format!("Lambda GetFunctionConfiguration {function}")))?;
    Ok(output
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default())
}

/// Where the monitor execution of a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionState {
    /// Still running (or waiting to be redriven).
    Running,
    /// Ended normally: the combiner has run.
    Succeeded,
    /// Failed, timed out or was aborted, with Step Functions' error and cause.
    Ended {
        /// The execution's status (`FAILED`, `TIMED_OUT`, `ABORTED`).
        status: String,
        /// Error name and cause, when Step Functions gives them.
        reason: String,
    },
}

/// The state of execution `name` (the job id) of state machine `state_machine_arn`.
pub async fn execution_state(
    clients: &AwsClients,
    state_machine_arn: &str,
    name: &str,
) -> Result<ExecutionState, BackendError> {
    let arn = execution_arn(state_machine_arn, name);
    let output = with_retries(&clients.retry, "Step Functions DescribeExecution", || {
        clients
            .sfn()
            .describe_execution()
            .execution_arn(&arn)
            .send()
    })
    .await
    .map_err(|e| e.into_backend(&format!("Step Functions DescribeExecution {arn}")))?;
    Ok(match output.status() {
        ExecutionStatus::Running | ExecutionStatus::PendingRedrive => ExecutionState::Running,
        ExecutionStatus::Succeeded => ExecutionState::Succeeded,
        other => ExecutionState::Ended {
            status: other.as_str().to_owned(),
            reason: [output.error(), output.cause()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": "),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_is_read_from_its_manager_s_environment() {
        let functions = StackFunctions::of_stack("cds");
        assert_eq!(functions.manager, "cds-manager");
        assert_eq!(functions.worker, "cds-worker");
        assert_eq!(functions.combiner, "cds-combiner");
        let mut env = HashMap::from([
            (TASKS_TABLE_VAR.to_owned(), "tasks".to_owned()),
            (SEARCH_BUCKET_VAR.to_owned(), "searches".to_owned()),
            (STATE_MACHINE_VAR.to_owned(), String::new()),
        ]);
        let stack = Stack::from_environment(functions.clone(), &env).unwrap();
        assert_eq!(
            (stack.tasks_table.as_str(), stack.search_bucket.as_str()),
            ("tasks", "searches")
        );
        assert_eq!(stack.state_machine_arn, None);
        env.remove(SEARCH_BUCKET_VAR);
        let err = Stack::from_environment(functions, &env).unwrap_err();
        assert!(
            err.to_string().contains("cds-manager") && err.to_string().contains(SEARCH_BUCKET_VAR),
            "{err}"
        );
    }
}
