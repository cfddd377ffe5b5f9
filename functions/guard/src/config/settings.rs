//! The settings table: every setting declared once, with its environment variable, CLI flag,
//! template parameter, default, help and parser. [`super::Config::from_lookup`] reads the
//! table; the CLI builds its flags from it; tests hold the template's parameters and the
//! README's configuration table to it.

use super::parse::*;
use super::Config;
use crate::error::Result;

/// One setting of vpce-guard.
#[derive(Debug)]
pub struct Setting {
    /// The environment variable, e.g. `VPCE_GUARD_SCOPE`.
    pub variable: &'static str,
    /// The CLI's flag without its dashes, e.g. `scope` for `--scope`.
    pub flag: &'static str,
    /// The template parameter whose value the functions get as the variable (`None`: the
    /// template offers it only through the functions' environment).
    pub parameter: Option<&'static str>,
    /// The default, as the variable would spell it (empty: unset).
    pub default: &'static str,
    /// What the value is, for the CLI's help: `MODE`, `LIST`, `BOOL`, `NAME`.
    pub value_name: &'static str,
    /// One line of help for the CLI.
    pub help: &'static str,
    /// The value the CLI's flag takes when given alone (`--dry-run`); such a flag takes its
    /// value only after `=`, so that `--dry-run apply` reads `apply` as the command.
    pub flag_alone: Option<&'static str>,
    /// Whether a saved plan records it: every setting that changes what a plan does.
    pub in_plan: bool,
    /// Parses a (non-empty) value of `variable` (this setting's, for the error) into the
    /// configuration.
    pub apply: fn(config: &mut Config, variable: &'static str, text: &str) -> Result<()>,
}

impl Setting {
    /// The setting of environment variable `variable`.
    pub fn of(variable: &str) -> Option<&'static Setting> {
        SETTINGS.iter().find(|s| s.variable == variable)
    }
}

/// Every setting, in the order the README and the CLI's help list them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        variable: "VPCE_GUARD_SERVICES",
        flag: "services",
        parameter: Some("Services"),
        default: "",
        value_name: "LIST",
        help: "Endpoint services, comma-separated, `{region}` placeholder, in creation order (default: the profiles' services)",
        flag_alone: None,
        in_plan: true,
        apply: |config, _, text| {
            config.services = parse_services(text)?;
            config.services_overridden = true;
            Ok(())
        },
    },
    Setting {
        variable: "VPCE_GUARD_SCOPE",
        flag: "scope",
        parameter: Some("Scope"),
        default: "enrolled",
        value_name: "MODE",
        help: "Which VPCs are in scope: enrolled (default), all",
        flag_alone: None,
        in_plan: true,
        apply: |config, _, text| set(&mut config.scope, parse_scope(text)),
    },
    Setting {
        variable: "VPCE_GUARD_NOTEBOOK_POLICY",
        flag: "notebook-policy",
        parameter: Some("NotebookPolicy"),
        default: "account-notebooks",
        value_name: "MODE",
        help: "Notebook endpoint policy: account-notebooks (default), org-notebooks, vpc-notebooks, none",
        flag_alone: None,
        in_plan: true,
        apply: |config, _, text| set(&mut config.notebook_policy, parse_notebook_policy(text)),
    },
    Setting {
        variable: "VPCE_GUARD_API_POLICY",
        flag: "api-policy",
        parameter: Some("ApiPolicy"),
        default: "account",
        value_name: "MODE",
        help: "API endpoint policy: account (default), org, none",
        flag_alone: None,
        in_plan: true,
        apply: |config, _, text| set(&mut config.api_policy, parse_api_policy(text)),
    },
    Setting {
        variable: "VPCE_GUARD_CLIENT_CIDRS",
        flag: "client-cidrs",
        parameter: Some("ClientCidrs"),
        default: "",
        value_name: "LIST",
        help: "Extra IPv4/IPv6 CIDR blocks allowed to reach the endpoints on 443 (the corporate network over VPN or Direct Connect), comma-separated",
        flag_alone: None,
        in_plan: true,
        apply: |config, _, text| set(&mut config.client_cidrs, parse_client_cidrs(text)),
    },
    Setting {
        variable: "VPCE_GUARD_CLIENT_PREFIX_LISTS",
        flag: "client-prefix-lists",
        parameter: Some("ClientPrefixLists"),
        default: "",
        value_name: "LIST",
        help: "Managed prefix lists (pl-…) allowed to reach the endpoints on 443, comma-separated",
        flag_alone: None,
        in_plan: true,
        apply: |config, _, text| set(&mut config.client_prefix_lists, parse_prefix_lists(text)),
    },
    Setting {
        variable: "VPCE_GUARD_ON_DNS_CONFLICT",
        flag: "on-dns-conflict",
        parameter: Some("OnDnsConflict"),
        default: "report",
        value_name: "MODE",
        help: "A private hosted zone already serving a service's name: report (default), create",
        flag_alone: None,
        in_plan: true,
        apply: |config, _, text| set(&mut config.on_dns_conflict, parse_on_dns_conflict(text)),
    },
    Setting {
        variable: "VPCE_GUARD_IAM_GUARDRAIL",
        flag: "iam-guardrail",
        parameter: Some("IamGuardrail"),
        default: "",
        value_name: "NAME",
        help: "Keep the IAM guardrail policy `/vpce-guard/NAME-<region>` in sync (never attached)",
        flag_alone: None,
        in_plan: true,
        apply: |config, _, text| set(&mut config.iam_guardrail, parse_guardrail_name(text).map(Some)),
    },
    Setting {
        variable: "VPCE_GUARD_GUARDRAIL_SOURCE_VPCES",
        flag: "guardrail-source-vpces",
        parameter: Some("GuardrailSourceVpces"),
        default: "",
        value_name: "LIST",
        help: "VPC endpoint ids (vpce-…) the IAM guardrail and iam-policy admit besides this account's, e.g. a hub account's that serve its VPCs, comma-separated",
        flag_alone: None,
        in_plan: true,
        apply: |config, _, text| set(&mut config.guardrail_source_vpces, parse_source_vpces(text)),
    },
    Setting {
        variable: "VPCE_GUARD_DRY_RUN",
        flag: "dry-run",
        parameter: Some("DryRun"),
        default: "false",
        value_name: "BOOL",
        help: "Plan only, even for apply: `--dry-run` or `--dry-run=true|false` (with `=`)",
        flag_alone: Some("true"),
        in_plan: false,
        apply: |config, variable, text| set(&mut config.dry_run, parse_bool(variable, text)),
    },
    Setting {
        variable: "VPCE_GUARD_FIX_VPC_DNS",
        flag: "fix-vpc-dns",
        parameter: Some("FixVpcDns"),
        default: "true",
        value_name: "BOOL",
        help: "Turn on the VPC DNS attributes private DNS needs: true (default), false",
        flag_alone: None,
        in_plan: true,
        apply: |config, variable, text| set(&mut config.fix_vpc_dns, parse_bool(variable, text)),
    },
    Setting {
        variable: "VPCE_GUARD_PROFILES",
        flag: "profiles",
        parameter: Some("Profiles"),
        default: "notebook-instances",
        value_name: "LIST",
        help: "What VPCs get endpoints for: notebook-instances (default), studio, comma-separated",
        flag_alone: None,
        in_plan: true,
        apply: |config, _, text| set(&mut config.profiles, parse_profiles(text)),
    },
    Setting {
        variable: "VPCE_GUARD_STUDIO_PROJECTS",
        flag: "studio-projects",
        parameter: Some("StudioProjects"),
        default: "false",
        value_name: "BOOL",
        help: "The studio profile includes Service Catalog (SageMaker Projects): true, false (default)",
        flag_alone: None,
        in_plan: true,
        apply: |config, variable, text| set(&mut config.studio_projects, parse_bool(variable, text)),
    },
    Setting {
        variable: "VPCE_GUARD_STUDIO_PUBLIC_DOMAINS",
        flag: "studio-public-domains",
        parameter: Some("StudioPublicDomains"),
        default: "report",
        value_name: "MODE",
        help: "A PublicInternetOnly Studio domain: report (default), enforce",
        flag_alone: None,
        in_plan: true,
        apply: |config, _, text| set(&mut config.studio_public_domains, parse_public_domains(text)),
    },
    Setting {
        variable: "VPCE_GUARD_S3_GATEWAY",
        flag: "s3-gateway",
        parameter: Some("S3Gateway"),
        default: "false",
        value_name: "BOOL",
        help: "Create or extend an S3 gateway endpoint for VPC-only Studio domains: true, false (default)",
        flag_alone: None,
        in_plan: true,
        apply: |config, variable, text| set(&mut config.s3_gateway, parse_bool(variable, text)),
    },
    Setting {
        variable: "VPCE_GUARD_ADOPT_EXISTING",
        flag: "adopt-existing",
        parameter: Some("AdoptExisting"),
        default: "false",
        value_name: "BOOL",
        help: "Adopt endpoints vpce-guard did not create (modify them, extend an S3 gateway): true, false (default: report them, write only what it manages)",
        flag_alone: None,
        in_plan: true,
        apply: |config, variable, text| set(&mut config.adopt_existing, parse_bool(variable, text)),
    },
    Setting {
        variable: "VPCE_GUARD_ENDPOINT_HOURLY_USD",
        flag: "endpoint-hourly-usd",
        parameter: Some("EndpointHourlyUsd"),
        default: "0.01",
        value_name: "USD",
        help: "Price of one interface endpoint in one AZ per hour, for the reports' cost estimates (default 0.01; prices differ by region)",
        flag_alone: None,
        in_plan: false,
        apply: |config, variable, text| set(&mut config.endpoint_hourly_micro_usd, parse_hourly_usd(variable, text)),
    },
    Setting {
        variable: "VPCE_GUARD_PRUNE_IDLE_AFTER",
        flag: "prune-idle-after",
        parameter: Some("PruneIdleAfter"),
        default: "",
        value_name: "DURATION",
        help: "Delete the managed endpoints of a VPC idle this long (0s, 30m, 12h, 7d), by scheduled sweeps and apply only (default: never)",
        flag_alone: None,
        in_plan: true,
        apply: |config, variable, text| set(&mut config.prune_idle_after, parse_duration(variable, text).map(Some)),
    },
    Setting {
        variable: "VPCE_GUARD_SECURITY_HUB",
        flag: "security-hub",
        parameter: Some("SecurityHubFindings"),
        default: "false",
        value_name: "BOOL",
        help: "Keep one AWS Security Hub finding per non-compliant VPC: true, false (default)",
        flag_alone: None,
        in_plan: true,
        apply: |config, variable, text| set(&mut config.security_hub, parse_bool(variable, text)),
    },
];

/// Stores a parsed value, or passes the parser's error on.
fn set<T>(slot: &mut T, value: Result<T>) -> Result<()> {
    *slot = value?;
    Ok(())
}
