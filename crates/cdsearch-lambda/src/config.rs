//! What each function reads from its environment (set by template.yaml), parsed once at start.

use cdsearch_service::SignIn;
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

/// The hosted UI the `api` function's web client signs users in through
/// (e.g. `https://NAME.auth.REGION.amazoncognito.com`).
pub const SIGN_IN_DOMAIN_VAR: &str = "CDSEARCH_SIGN_IN_DOMAIN";
/// The app client the web client signs in as.
pub const SIGN_IN_CLIENT_ID_VAR: &str = "CDSEARCH_SIGN_IN_CLIENT_ID";

/// Why the sign-in variables cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignInVarError {
    /// One variable is set without the other.
    #[error("environment variable {missing} is not set but {set} is: set both (the hosted UI's domain and its app client) or neither (API keys)")]
    Half {
        /// The variable that is missing.
        missing: &'static str,
        /// The variable that is set.
        set: &'static str,
    },
    /// The values are not a valid sign-in page.
    #[error("environment variables {SIGN_IN_DOMAIN_VAR} / {SIGN_IN_CLIENT_ID_VAR}: {0}")]
    Invalid(#[from] cdsearch_service::SignInError),
}

/// The web client's sign-in page from [`SIGN_IN_DOMAIN_VAR`] and
/// [`SIGN_IN_CLIENT_ID_VAR`] read through `var`: both set → the hosted UI with
/// the scopes openid and email; both unset or empty → none.
pub fn sign_in_from_vars(
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<SignIn>, SignInVarError> {
    let value = |name| var(name).filter(|v| !v.trim().is_empty());
    match (value(SIGN_IN_DOMAIN_VAR), value(SIGN_IN_CLIENT_ID_VAR)) {
        (Some(domain), Some(client_id)) => Ok(Some(SignIn::new(domain.trim(), client_id.trim())?)),
        (None, None) => Ok(None),
        (Some(_), None) => Err(SignInVarError::Half {
            missing: SIGN_IN_CLIENT_ID_VAR,
            set: SIGN_IN_DOMAIN_VAR,
        }),
        (None, Some(_)) => Err(SignInVarError::Half {
            missing: SIGN_IN_DOMAIN_VAR,
            set: SIGN_IN_CLIENT_ID_VAR,
        }),
    }
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

    #[test]
    fn sign_in_needs_both_variables_or_neither() {
        let read = |vars: &[(&str, &str)]| {
            let vars: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            sign_in_from_vars(move |n| vars.get(n).cloned())
        };
        let sign_in = read(&[
            (
                SIGN_IN_DOMAIN_VAR,
                "https://x.auth.eu-west-1.amazoncognito.com/",
            ),
            (SIGN_IN_CLIENT_ID_VAR, "abc123"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            serde_json::to_value(&sign_in).unwrap(),
            serde_json::json!({"domain": "https://x.auth.eu-west-1.amazoncognito.com",
                "clientId": "abc123", "scopes": ["openid", "email"]})
        );
        assert_eq!(read(&[]), Ok(None));
        assert_eq!(
            read(&[(SIGN_IN_DOMAIN_VAR, ""), (SIGN_IN_CLIENT_ID_VAR, "")]),
            Ok(None)
        );
        let half = read(&[(SIGN_IN_DOMAIN_VAR, "https://x.example")]).unwrap_err();
        assert_eq!(
            half,
            SignInVarError::Half {
                missing: SIGN_IN_CLIENT_ID_VAR,
                set: SIGN_IN_DOMAIN_VAR
            }
        );
        assert!(half.to_string().starts_with(
            "environment variable CDSEARCH_SIGN_IN_CLIENT_ID is not set but CDSEARCH_SIGN_IN_DOMAIN is"
        ));
        assert_eq!(
            read(&[(SIGN_IN_CLIENT_ID_VAR, "abc")]).unwrap_err(),
            SignInVarError::Half {
                missing: SIGN_IN_DOMAIN_VAR,
                set: SIGN_IN_CLIENT_ID_VAR
            }
        );
        let invalid = read(&[
            (SIGN_IN_DOMAIN_VAR, "x.auth.eu-west-1.amazoncognito.com"),
            (SIGN_IN_CLIENT_ID_VAR, "abc"),
        ])
        .unwrap_err();
        assert!(
            invalid.to_string().contains("CDSEARCH_SIGN_IN_DOMAIN")
                && invalid
                    .to_string()
                    .contains("not an http:// or https:// URL"),
            "{invalid}"
        );
    }
}
