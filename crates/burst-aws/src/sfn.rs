//! [`StateMachineStarter`] over AWS Step Functions.

use async_trait::async_trait;
use burst::{BackendError, StateMachineStarter};
use serde_json::Value;

use crate::config::AwsClients;
use crate::retry::{with_retries, RetryPolicy};

/// Starts executions of one state machine.
#[derive(Debug, Clone)]
pub struct SfnStarter {
    client: aws_sdk_sfn::Client,
    state_machine_arn: String,
    retry: RetryPolicy,
}

impl SfnStarter {
    /// A starter of the state machine `state_machine_arn`.
    pub fn new(clients: &AwsClients, state_machine_arn: impl Into<String>) -> Self {
        SfnStarter {
            client: clients.sfn(),
            state_machine_arn: state_machine_arn.into(),
            retry: clients.retry,
        }
    }

    /// The state machine.
    pub fn state_machine_arn(&self) -> &str {
        &self.state_machine_arn
    }
}

/// The ARN of execution `name` of state machine `state_machine_arn`.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

#[async_trait]
impl StateMachineStarter for SfnStarter {
    /// Starts the execution; an execution of the same name that already exists (a retried
    /// manager) counts as started, so starting is idempotent per job.
    async fn start_execution(&self, name: &str, input: Value) -> Result<String, BackendError> {
        let what = format!(
            "Step Functions StartExecution {name} of {}",
            self.state_machine_arn
        );
        let input = serde_json::to_string(&input)
            .map_err(|e| BackendError::Invalid(format!("{what}: input is not JSON: {e}")))?;
        let result = with_retries(&self.retry, "Step Functions StartExecution", || {
            self.client
                .start_execution()
                .state_machine_arn(&self.state_machine_arn)
                .name(name)
                .input(input.clone())
                .send()
        })
        .await;
        match result {
            Ok(output) => Ok(output.execution_arn),
            Err(e) if e.has_code("ExecutionAlreadyExists") => {
                Ok(execution_arn(&self.state_machine_arn, name))
            }
            Err(e) => Err(e.into_backend(&what)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arns_derive_from_the_state_machine_arn() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:eu-west-1:123456789012:stateMachine:burst-monitor",
                "job-1"
            ),
            "arn:aws:states:eu-west-1:123456789012:execution:burst-monitor:job-1"
        );
    }
}
