//! Configuration from the environment (the same names as the template's parameters),
//! validated once at start-up with errors that name the variable and the accepted values.
//!
//! Every setting is declared once, in [`settings::SETTINGS`]: its variable, CLI flag, template
//! parameter, default, help and parser. [`Config`] is what the table's parsers fill in;
//! `services.rs` holds the service names and partition rules, `parse.rs` the value parsers.

mod parse;
mod services;
mod settings;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

pub use parse::*;
pub use services::*;
pub use settings::{Setting, SETTINGS};

use crate::error::Result;

/// Which VPCs vpce-guard looks after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// VPCs that hold a notebook, a managed endpoint, or tag `vpce-guard:enforce=true`.
    Enrolled,
    /// Every VPC not opted out with `vpce-guard:enforce=false`.
    All,
}

/// Policy for the notebook endpoint (`aws.sagemaker.{region}.notebook`). Never a deny-all:
/// which notebooks a client may open does not follow from where a notebook's interface lives
/// (client VPCs hold none; participants of RAM-shared subnets run their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotebookPolicy {
    /// Presigned URLs for any notebook of this account and region, none of another account.
    AccountNotebooks,
    /// Presigned URLs for notebooks of any account of this AWS Organization.
    OrgNotebooks,
    /// The strict opt-in: only the notebooks in this VPC (the account policy, with a warning,
    /// for a VPC that holds none).
    VpcNotebooks,
    /// Leave the endpoint policy alone.
    None,
}

/// Policy for the API endpoint (`com.amazonaws.{region}.sagemaker.api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiPolicy {
    /// Allow principals of this account only.
    Account,
    /// Allow principals of this AWS Organization.
    Org,
    /// Leave the endpoint policy alone.
    None,
}

/// What to do for a service whose private DNS name a private hosted zone associated with the
/// VPC already serves (centralised endpoints in a hub VPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDnsConflict {
    /// Report the VPC as served centrally and create nothing for that service.
    Report,
    /// Create a local endpoint anyway, without private DNS.
    Create,
}

/// What a VPC gets endpoints for (`VPCE_GUARD_PROFILES`). Each enrolled VPC gets the union of
/// the services of its profiles, the SageMaker API first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Profile {
    /// Notebook instances: the SageMaker API and the notebook service (the guide's pair).
    NotebookInstances,
    /// SageMaker Studio domains in VPC-only mode: the API, the runtime, the Studio UI, STS and
    /// CloudWatch Logs (and Service Catalog with `VPCE_GUARD_STUDIO_PROJECTS=true`).
    Studio,
}

impl Profile {
    /// The name used in configuration, tags and reports.
    pub fn name(self) -> &'static str {
        match self {
            Profile::NotebookInstances => "notebook-instances",
            Profile::Studio => "studio",
        }
    }

    /// Parses one profile name.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "notebook-instances" => Some(Profile::NotebookInstances),
            "studio" => Some(Profile::Studio),
            _ => None,
        }
    }
}

/// What a Studio domain in `PublicInternetOnly` mode means for its VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicDomains {
    /// Report the domain and leave its VPC alone (its apps reach AWS over the internet).
    Report,
    /// Enrol its VPC for the studio profile like a VPC-only domain's.
    Enforce,
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
    /// Extra sources (IPv4/IPv6 CIDR blocks) allowed to reach the endpoints on 443: the
    /// corporate network over VPN, Direct Connect or a transit gateway.
    pub client_cidrs: Vec<String>,
    /// Managed prefix lists (`pl-…`) allowed to reach the endpoints on 443.
    pub client_prefix_lists: Vec<String>,
    /// Name of the IAM guardrail policy to keep in sync (`None`: off).
    pub iam_guardrail: Option<String>,
    /// VPC endpoint ids the guardrail and `iam-policy` admit besides this account's own: the
    /// endpoints of a central (hub) account that serve this account's VPCs.
    pub guardrail_source_vpces: Vec<String>,
    /// What a private hosted zone serving a service's name means.
    pub on_dns_conflict: OnDnsConflict,
    /// Plan only; write nothing.
    pub dry_run: bool,
    /// Turn on the VPC DNS attributes private DNS needs.
    pub fix_vpc_dns: bool,
    /// Keep one AWS Security Hub finding per non-compliant VPC ([`crate::findings`]).
    pub security_hub: bool,
    /// The profiles vpce-guard serves (`VPCE_GUARD_PROFILES`).
    pub profiles: BTreeSet<Profile>,
    /// Whether `VPCE_GUARD_SERVICES` was set: then its list is every enrolled VPC's, whatever
    /// its profiles.
    pub services_overridden: bool,
    /// The studio profile includes Service Catalog (SageMaker Projects).
    pub studio_projects: bool,
    /// What a `PublicInternetOnly` Studio domain means for its VPC.
    pub studio_public_domains: PublicDomains,
    /// Create or extend an S3 gateway endpoint to the route tables of VPC-only domains'
    /// subnets that lack one (else report them).
    pub s3_gateway: bool,
    /// Adopt endpoints vpce-guard did not create (not tagged `vpce-guard:managed=true`): modify
    /// an interface endpoint of a service, extend an S3 gateway endpoint. Off: such an endpoint
    /// is reported (`unmanaged_endpoint`) and left alone, and none is created beside it.
    pub adopt_existing: bool,
    /// What one interface endpoint costs in one AZ per hour, in millionths of a US dollar
    /// (`VPCE_GUARD_ENDPOINT_HOURLY_USD`): the reports' cost estimates.
    pub endpoint_hourly_micro_usd: u64,
    /// How long a VPC must stay idle (managed endpoints, nothing that enrols it) before a
    /// scheduled sweep or the CLI's `apply` deletes its managed endpoints, in seconds
    /// (`VPCE_GUARD_PRUNE_IDLE_AFTER`); `None`: never.
    pub prune_idle_after: Option<u64>,
}

impl Default for Config {
    /// Every setting at the default the settings table gives it.
    fn default() -> Self {
        let mut config = Self::unset();
        for setting in SETTINGS.iter().filter(|s| !s.default.is_empty()) {
            (setting.apply)(&mut config, setting.variable, setting.default)
                .expect("the settings table's defaults parse");
        }
        config
    }
}

impl Config {
    /// The configuration before any setting is applied: empty lists, nothing optional, the
    /// default services (not overridden), and for the rest any value (the table's defaults
    /// replace them).
    fn unset() -> Self {
        Self {
            services: parse::split_list(DEFAULT_SERVICES),
            scope: Scope::Enrolled,
            notebook_policy: NotebookPolicy::None,
            api_policy: ApiPolicy::None,
            client_cidrs: Vec::new(),
            client_prefix_lists: Vec::new(),
            iam_guardrail: None,
            guardrail_source_vpces: Vec::new(),
            on_dns_conflict: OnDnsConflict::Report,
            dry_run: false,
            fix_vpc_dns: false,
            security_hub: false,
            profiles: BTreeSet::new(),
            services_overridden: false,
            studio_projects: false,
            studio_public_domains: PublicDomains::Report,
            s3_gateway: false,
            adopt_existing: false,
            endpoint_hourly_micro_usd: 0,
            prune_idle_after: None,
        }
    }

    /// Reads and validates the `VPCE_GUARD_*` variables of the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads and validates configuration through `lookup` (a variable name → its value): each
    /// setting of [`SETTINGS`] with a non-empty value replaces its default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut config = Config::default();
        for setting in SETTINGS {
            let value = lookup(setting.variable).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
            if let Some(text) = value {
                (setting.apply)(&mut config, setting.variable, &text)?;
            }
        }
        Ok(config)
    }

    /// True when the studio profile is on.
    pub fn studio(&self) -> bool {
        self.profiles.contains(&Profile::Studio)
    }

    /// The variable whose value needs the AWS Organization's id, if any (`org-notebooks`, `org`).
    pub fn org_variable(&self) -> Option<&'static str> {
        if self.notebook_policy == NotebookPolicy::OrgNotebooks {
            Some("VPCE_GUARD_NOTEBOOK_POLICY")
        } else if self.api_policy == ApiPolicy::Org {
            Some("VPCE_GUARD_API_POLICY")
        } else {
            None
        }
    }

    /// The sources the managed security group allows on 443 besides the VPC's CIDR blocks.
    pub fn client_sources(&self) -> impl Iterator<Item = &String> {
        self.client_cidrs.iter().chain(&self.client_prefix_lists)
    }

    /// Every service name vpce-guard may manage in `region` (the union of the configured
    /// profiles, or `VPCE_GUARD_SERVICES`), in creation order: what it reads. Names are resolved
    /// against the services the region `offered` ([`resolve_service`]).
    pub fn service_names(&self, region: &str, offered: &ServiceAzs) -> Vec<String> {
        self.services_for(region, offered, &self.profiles)
    }

    /// The service names a VPC enrolled for `profiles` gets in `region`, in creation order: the
    /// SageMaker API first, then each profile's services. `VPCE_GUARD_SERVICES`, when set, is
    /// every VPC's list. Each template is resolved against the services the region `offered`
    /// (by suffix: `cn.com.amazonaws.` in China), so no partition's prefix is assumed.
    pub fn services_for(&self, region: &str, offered: &ServiceAzs, profiles: &BTreeSet<Profile>) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for template in self.templates_for(profiles) {
            let service = resolve_service(template, region, offered.keys());
            if !names.contains(&service) {
                names.push(service);
            }
        }
        names
    }

    /// The `service-name` filter values that find every service vpce-guard may manage in
    /// `region`, in any partition: each template's [`service_pattern`] and its
    /// [`default_service_name`] (which matches even where a filter took no wildcard).
    pub fn service_queries(&self, region: &str) -> Vec<String> {
        let mut queries: Vec<String> = Vec::new();
        for template in self.templates_for(&self.profiles) {
            for query in [service_pattern(template, region), default_service_name(template, region)] {
                if !queries.contains(&query) {
                    queries.push(query);
                }
            }
        }
        queries
    }

    /// The service templates of `profiles`, API first, in creation order.
    fn templates_for(&self, profiles: &BTreeSet<Profile>) -> Vec<&str> {
        if self.services_overridden {
            return self.services.iter().map(String::as_str).collect();
        }
        let mut templates: Vec<&str> = vec![API_TEMPLATE];
        for profile in profiles {
            match profile {
                Profile::NotebookInstances => templates.push(NOTEBOOK_TEMPLATE),
                Profile::Studio => {
                    templates.extend(STUDIO_SERVICES);
                    if self.studio_projects {
                        templates.push(SERVICE_CATALOG);
                    }
                }
            }
        }
        templates
    }
}
