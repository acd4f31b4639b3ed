//! What each function reads from its environment (set by template.yaml), parsed once at start.

use thiserror::Error;

/// A required environment variable is missing.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("environment variable {0} is not set (template.yaml sets it for every function)")]
pub struct MissingVar(pub &'static str);

/// The variables template.yaml sets, named once in `burst_aws::stack` (clients read them back).
pub use burst_aws::stack::{
    MANAGER_FUNCTION_VAR, MONITOR_FUNCTION_VAR, SEARCH_BUCKET_VAR, STATE_MACHINE_VAR,
    TASKS_TABLE_VAR,
};

/// The deployment a function belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionEnv {
    /// The task table.
    pub tasks_table: String,
    /// The search bucket (masks in, results out).
    pub search_bucket: String,
    /// The monitor state machine (manager only; empty elsewhere).
    pub state_machine_arn: Option<String>,
    /// The manager function.
    pub manager_function: String,
    /// The monitor function.
    pub monitor_function: String,
}

impl FunctionEnv {
    /// Reads the environment through `var` (the process environment in production).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, MissingVar> {
        let required =
            |name: &'static str| var(name).filter(|v| !v.is_empty()).ok_or(MissingVar(name));
        Ok(FunctionEnv {
            tasks_table: required(TASKS_TABLE_VAR)?,
            search_bucket: required(SEARCH_BUCKET_VAR)?,
            state_machine_arn: var(STATE_MACHINE_VAR).filter(|v| !v.is_empty()),
            manager_function: required(MANAGER_FUNCTION_VAR)?,
            monitor_function: required(MONITOR_FUNCTION_VAR)?,
        })
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, MissingVar> {
        Self::from_vars(|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn reads_the_variables_template_yaml_sets() {
        let vars: HashMap<&str, &str> = HashMap::from([
            (TASKS_TABLE_VAR, "tasks"),
            (SEARCH_BUCKET_VAR, "bucket"),
            (MANAGER_FUNCTION_VAR, "stack-manager"),
            (MONITOR_FUNCTION_VAR, "stack-monitor"),
        ]);
        let env = FunctionEnv::from_vars(|n| vars.get(n).map(|v| v.to_string())).unwrap();
        assert_eq!(env.tasks_table, "tasks");
        assert_eq!(env.state_machine_arn, None);
        let missing = FunctionEnv::from_vars(|n| (n != SEARCH_BUCKET_VAR).then(|| "x".to_string()));
        assert_eq!(missing, Err(MissingVar(SEARCH_BUCKET_VAR)));
    }
}
