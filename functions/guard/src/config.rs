//! Configuration from the environment (the same names as the template's parameters),
//! validated once at start-up with errors that name the variable and the accepted values.

use crate::error::{Error, Result};

/// Default `VPCE_GUARD_SERVICES`: the two services of the SageMaker guide, API first.
pub const DEFAULT_SERVICES: &str = "com.amazonaws.{region}.sagemaker.api,aws.sagemaker.{region}.notebook";

/// Which VPCs vpce-guard looks after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// VPCs that hold a notebook, a managed endpoint, or tag `vpce-guard:enforce=true`.
    Enrolled,
    /// Every VPC not opted out with `vpce-guard:enforce=false`.
    All,
}

/// Policy for the notebook endpoint (`aws.sagemaker.{region}.notebook`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotebookPolicy {
    /// Allow presigned URLs only for the notebooks in this VPC.
    VpcNotebooks,
    /// Allow presigned URLs for every notebook of the account.
    AccountNotebooks,
    /// Leave the endpoint policy alone.
    None,
}

/// Policy for the API endpoint (`com.amazonaws.{region}.sagemaker.api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiPolicy {
    /// Allow principals of this account only.
    Account,
    /// Leave the endpoint policy alone.
    None,
}

/// The validated configuration every entry point shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Service name templates in creation order, with a `{region}` placeholder.
    pub services: Vec<String>,
    /// Which VPCs are in scope.
    pub scope: Scope,
    /// Notebook endpoint policy mode.
    pub notebook_policy: NotebookPolicy,
    /// API endpoint policy mode.
    pub api_policy: ApiPolicy,
    /// Plan only; write nothing.
    pub dry_run: bool,
    /// Turn on the VPC DNS attributes private DNS needs.
    pub fix_vpc_dns: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            services: split_services(DEFAULT_SERVICES),
            scope: Scope::Enrolled,
            notebook_policy: NotebookPolicy::VpcNotebooks,
            api_policy: ApiPolicy::Account,
            dry_run: false,
            fix_vpc_dns: true,
        }
    }
}

fn split_services(text: &str) -> Vec<String> {
    text.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

impl Config {
    /// Reads and validates the `VPCE_GUARD_*` variables of the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads and validates configuration through `lookup` (a variable name → its value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let defaults = Config::default();
        let read = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Ok(Self {
            services: match read("VPCE_GUARD_SERVICES") {
                Some(text) => parse_services(&text)?,
                None => defaults.services,
            },
            scope: match read("VPCE_GUARD_SCOPE") {
                Some(text) => parse_scope(&text)?,
                None => defaults.scope,
            },
            notebook_policy: match read("VPCE_GUARD_NOTEBOOK_POLICY") {
                Some(text) => parse_notebook_policy(&text)?,
                None => defaults.notebook_policy,
            },
            api_policy: match read("VPCE_GUARD_API_POLICY") {
                Some(text) => parse_api_policy(&text)?,
                None => defaults.api_policy,
            },
            dry_run: match read("VPCE_GUARD_DRY_RUN") {
                Some(text) => parse_bool("VPCE_GUARD_DRY_RUN", &text)?,
                None => defaults.dry_run,
            },
            fix_vpc_dns: match read("VPCE_GUARD_FIX_VPC_DNS") {
                Some(text) => parse_bool("VPCE_GUARD_FIX_VPC_DNS", &text)?,
                None => defaults.fix_vpc_dns,
            },
        })
    }

    /// The configured service names for `region`, in creation order.
    pub fn service_names(&self, region: &str) -> Vec<String> {
        self.services.iter().map(|template| template.replace("{region}", region)).collect()
    }
}

/// The SageMaker API service name in `region`.
pub fn api_service(region: &str) -> String {
    format!("com.amazonaws.{region}.sagemaker.api")
}

/// The SageMaker notebook service name in `region` (note the `aws.sagemaker` prefix).
pub fn notebook_service(region: &str) -> String {
    format!("aws.sagemaker.{region}.notebook")
}

fn invalid(variable: &'static str, value: &str, expected: impl Into<String>) -> Error {
    Error::Config { variable, value: value.to_string(), expected: expected.into() }
}

/// Parses `VPCE_GUARD_SERVICES`: a comma list of service names, `{region}` allowed.
pub fn parse_services(text: &str) -> Result<Vec<String>> {
    const EXPECTED: &str = "expected a comma-separated list of endpoint service names such as \
        com.amazonaws.{region}.sagemaker.api,aws.sagemaker.{region}.notebook";
    let services = split_services(text);
    if services.is_empty() {
        return Err(invalid("VPCE_GUARD_SERVICES", text, EXPECTED));
    }
    for (index, service) in services.iter().enumerate() {
        let well_formed = service.split('.').count() >= 3
            && service.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.{}".contains(c))
            && service.replace("{region}", "").chars().all(|c| c != '{' && c != '}');
        if !well_formed {
            return Err(invalid("VPCE_GUARD_SERVICES", text, format!("{service:?} is not a service name; {EXPECTED}")));
        }
        if services[..index].contains(service) {
            return Err(invalid("VPCE_GUARD_SERVICES", text, format!("{service:?} is listed twice")));
        }
    }
    Ok(services)
}

/// Parses `VPCE_GUARD_SCOPE`.
pub fn parse_scope(text: &str) -> Result<Scope> {
    match text.to_ascii_lowercase().as_str() {
        "enrolled" => Ok(Scope::Enrolled),
        "all" => Ok(Scope::All),
        _ => Err(invalid("VPCE_GUARD_SCOPE", text, "expected one of: enrolled, all")),
    }
}

/// Parses `VPCE_GUARD_NOTEBOOK_POLICY`.
pub fn parse_notebook_policy(text: &str) -> Result<NotebookPolicy> {
    match text.to_ascii_lowercase().as_str() {
        "vpc-notebooks" => Ok(NotebookPolicy::VpcNotebooks),
        "account-notebooks" => Ok(NotebookPolicy::AccountNotebooks),
        "none" => Ok(NotebookPolicy::None),
        _ => {
            Err(invalid("VPCE_GUARD_NOTEBOOK_POLICY", text, "expected one of: vpc-notebooks, account-notebooks, none"))
        }
    }
}

/// Parses `VPCE_GUARD_API_POLICY`.
pub fn parse_api_policy(text: &str) -> Result<ApiPolicy> {
    match text.to_ascii_lowercase().as_str() {
        "account" => Ok(ApiPolicy::Account),
        "none" => Ok(ApiPolicy::None),
        _ => Err(invalid("VPCE_GUARD_API_POLICY", text, "expected one of: account, none")),
    }
}

/// Parses a boolean variable: `true`/`false` (also `1`/`0`, `yes`/`no`).
pub fn parse_bool(variable: &'static str, text: &str) -> Result<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(variable, text, "expected true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn empty_environment_gives_documented_defaults() {
        let config = from(&[]).unwrap();
        assert_eq!(
            config.service_names("us-west-2"),
            vec!["com.amazonaws.us-west-2.sagemaker.api", "aws.sagemaker.us-west-2.notebook"]
        );
        assert_eq!(config.scope, Scope::Enrolled);
        assert_eq!(config.notebook_policy, NotebookPolicy::VpcNotebooks);
        assert_eq!(config.api_policy, ApiPolicy::Account);
        assert!(!config.dry_run);
        assert!(config.fix_vpc_dns);
    }

    #[test]
    fn values_are_parsed_case_insensitively() {
        let config = from(&[
            ("VPCE_GUARD_SCOPE", "ALL"),
            ("VPCE_GUARD_NOTEBOOK_POLICY", "account-notebooks"),
            ("VPCE_GUARD_API_POLICY", "none"),
            ("VPCE_GUARD_DRY_RUN", "True"),
            ("VPCE_GUARD_FIX_VPC_DNS", "false"),
            ("VPCE_GUARD_SERVICES", "com.amazonaws.{region}.sagemaker.api, com.amazonaws.{region}.sts"),
        ])
        .unwrap();
        assert_eq!(config.scope, Scope::All);
        assert_eq!(config.notebook_policy, NotebookPolicy::AccountNotebooks);
        assert_eq!(config.api_policy, ApiPolicy::None);
        assert!(config.dry_run && !config.fix_vpc_dns);
        assert_eq!(config.services.len(), 2);
    }

    #[test]
    fn bad_values_name_the_variable_and_the_choices() {
        let cases = [
            ("VPCE_GUARD_SCOPE", "everything", "enrolled, all"),
            ("VPCE_GUARD_NOTEBOOK_POLICY", "vpc", "vpc-notebooks, account-notebooks, none"),
            ("VPCE_GUARD_API_POLICY", "org", "account, none"),
            ("VPCE_GUARD_DRY_RUN", "maybe", "true or false"),
            ("VPCE_GUARD_FIX_VPC_DNS", "2", "true or false"),
            ("VPCE_GUARD_SERVICES", "sagemaker api", "service name"),
            ("VPCE_GUARD_SERVICES", "a.b.c,a.b.c", "listed twice"),
            ("VPCE_GUARD_SERVICES", "com.amazonaws.{zone}.sagemaker.api", "service name"),
        ];
        for (variable, value, expected) in cases {
            let message = from(&[(variable, value)]).unwrap_err().to_string();
            assert!(message.contains(variable), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }
}
