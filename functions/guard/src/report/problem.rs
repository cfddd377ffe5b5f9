//! Problems a run reports: a stable [`Code`] (serialised as the snake-case strings of the JSON
//! contract), a severity, and a message that says what to do.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; the VPC is as compliant as AWS allows (e.g. an AZ the service lacks).
    Warning,
    /// The VPC is not compliant and vpce-guard cannot fix it.
    Error,
}

/// Every problem code vpce-guard reports. The JSON contract carries the snake-case name
/// (`service_not_in_az`); consumers match on it, so a code is never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// A VPC's run failed with an error (the message names it and its `errorType`).
    Error,
    /// The endpoint service is not offered in one of the VPC's AZs.
    ServiceNotInAz,
    /// The endpoint service is not offered in the region at all.
    ServiceUnavailable,
    /// An AZ has subnets but none can take an endpoint interface.
    NoUsableSubnet,
    /// An AZ's subnets have no free IPv4 address.
    NoFreeIp,
    /// An AZ has only IPv6-only subnets (the endpoints are IPv4).
    Ipv6OnlyAz,
    /// An endpoint is `failed` or `rejected`.
    EndpointFailed,
    /// An endpoint stays in a state vpce-guard cannot act on.
    EndpointStuck,
    /// The VPC's DNS attributes are off and `VPCE_GUARD_FIX_VPC_DNS=false`.
    VpcDnsOff,
    /// Something else holds the service's private DNS name.
    PrivateDnsConflict,
    /// Private DNS waits for a deleted endpoint to release the name.
    PrivateDnsWaiting,
    /// A private hosted zone (a hub's) already serves the service's name.
    ServedCentrally,
    /// The VPC is shared through AWS RAM: only its owner can give it endpoints.
    SharedVpc,
    /// A notebook reaches the internet directly (`DirectInternetAccess=Enabled`).
    DirectInternetAccess,
    /// `vpc-notebooks` for a VPC that holds no notebook: the account policy is used.
    NoNotebookInVpc,
    /// The endpoint policy would pass its size limit: a broader form is used.
    PolicyFallback,
    /// The guardrail policy would pass its size limit: a broader form is used.
    GuardrailFallback,
    /// The guardrail could not be synced this run.
    GuardrailError,
    /// A VPC reaches SageMaker through endpoints a private hosted zone serves (a hub's), whose
    /// ids the guardrail does not list: `VPCE_GUARD_GUARDRAIL_SOURCE_VPCES` is empty.
    GuardrailSourcesMissing,
    /// The Organization's id could not be read where a policy mode needs it.
    OrganizationUnknown,
    /// The VPC was still conflicted after every round of a run.
    ConflictUnresolved,
    /// A VPC named by a payload does not exist.
    VpcNotFound,
    /// A Studio domain uses `PublicInternetOnly`: its VPC is left alone.
    StudioPublicInternet,
    /// Subnets of VPC-only Studio domains have no route to Amazon S3.
    S3Unreachable,
    /// The caller did not approve these writes (the CLI's `apply`).
    NotApproved,
    /// AWS still throttled the VPC's calls when their retries ran out.
    Throttled,
    /// Security Hub refused a finding.
    FindingRefused,
    /// Security Hub findings could not be synced this run.
    SecurityHubError,
    /// The hosted zones of the VPC's Route 53 Profile could not be read (refused, or the API
    /// is not offered in the region): a hub's zone shared that way is not seen.
    Route53ProfilesUnreadable,
    /// An endpoint of a service that vpce-guard did not create (not tagged
    /// `vpce-guard:managed=true`) differs from the wanted state; without
    /// `VPCE_GUARD_ADOPT_EXISTING=true` it is left alone and none is created beside it.
    UnmanagedEndpoint,
    /// The VPC's `vpce-guard-endpoints` security group is not tagged `vpce-guard:managed=true`:
    /// vpce-guard writes neither its rules nor endpoints that would use it.
    UnmanagedGroup,
    /// No CloudTrail trail records this Region's management events (a sweep's account-level
    /// check): CloudTrail hands the events that trigger vpce-guard to EventBridge only through
    /// a logging trail, so only the sweeps enforce until one does.
    NoTrail,
    /// A VPC holds endpoints vpce-guard manages and nothing else enrols it (no notebook, no
    /// Studio domain, no `vpce-guard:enforce=true` tag): they cost money for nothing. With
    /// `VPCE_GUARD_PRUNE_IDLE_AFTER` they are deleted once it has stayed idle that long.
    IdleEndpoints,
}

impl Code {
    /// Every code.
    pub const ALL: [Code; 33] = [
        Code::Error,
        Code::ServiceNotInAz,
        Code::ServiceUnavailable,
        Code::NoUsableSubnet,
        Code::NoFreeIp,
        Code::Ipv6OnlyAz,
        Code::EndpointFailed,
        Code::EndpointStuck,
        Code::VpcDnsOff,
        Code::PrivateDnsConflict,
        Code::PrivateDnsWaiting,
        Code::ServedCentrally,
        Code::SharedVpc,
        Code::DirectInternetAccess,
        Code::NoNotebookInVpc,
        Code::PolicyFallback,
        Code::GuardrailFallback,
        Code::GuardrailError,
        Code::GuardrailSourcesMissing,
        Code::OrganizationUnknown,
        Code::ConflictUnresolved,
        Code::VpcNotFound,
        Code::StudioPublicInternet,
        Code::S3Unreachable,
        Code::NotApproved,
        Code::Throttled,
        Code::FindingRefused,
        Code::SecurityHubError,
        Code::Route53ProfilesUnreadable,
        Code::UnmanagedEndpoint,
        Code::UnmanagedGroup,
        Code::NoTrail,
        Code::IdleEndpoints,
    ];

    /// The code as the JSON contract spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Error => "error",
            Code::ServiceNotInAz => "service_not_in_az",
            Code::ServiceUnavailable => "service_unavailable",
            Code::NoUsableSubnet => "no_usable_subnet",
            Code::NoFreeIp => "no_free_ip",
            Code::Ipv6OnlyAz => "ipv6_only_az",
            Code::EndpointFailed => "endpoint_failed",
            Code::EndpointStuck => "endpoint_stuck",
            Code::VpcDnsOff => "vpc_dns_off",
            Code::PrivateDnsConflict => "private_dns_conflict",
            Code::PrivateDnsWaiting => "private_dns_waiting",
            Code::ServedCentrally => "served_centrally",
            Code::SharedVpc => "shared_vpc",
            Code::DirectInternetAccess => "direct_internet_access",
            Code::NoNotebookInVpc => "no_notebook_in_vpc",
            Code::PolicyFallback => "policy_fallback",
            Code::GuardrailFallback => "guardrail_fallback",
            Code::GuardrailError => "guardrail_error",
            Code::GuardrailSourcesMissing => "guardrail_sources_missing",
            Code::OrganizationUnknown => "organization_unknown",
            Code::ConflictUnresolved => "conflict_unresolved",
            Code::VpcNotFound => "vpc_not_found",
            Code::StudioPublicInternet => "studio_public_internet",
            Code::S3Unreachable => "s3_unreachable",
            Code::NotApproved => "not_approved",
            Code::Throttled => "throttled",
            Code::FindingRefused => "finding_refused",
            Code::SecurityHubError => "security_hub_error",
            Code::Route53ProfilesUnreadable => "route53_profiles_unreadable",
            Code::UnmanagedEndpoint => "unmanaged_endpoint",
            Code::UnmanagedGroup => "unmanaged_group",
            Code::NoTrail => "no_trail",
            Code::IdleEndpoints => "idle_endpoints",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// Something vpce-guard could not fix, with a stable code and an actionable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Stable code, e.g. `service_not_in_az`.
    pub code: Code,
    /// What is wrong and what to do.
    pub message: String,
    /// Warning or error; only errors make a VPC `non_compliant`.
    pub severity: Severity,
}

impl Problem {
    /// A problem that leaves the VPC non-compliant.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), severity: Severity::Error }
    }

    /// A problem worth reporting that does not make the VPC non-compliant.
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), severity: Severity::Warning }
    }

    /// A VPC shared with this account through RAM by `owner`: a warning, since only the owner
    /// can give it endpoints (and the owner's deployment does).
    pub fn shared_vpc(vpc_id: &str, owner: &str) -> Self {
        Self::warning(
            Code::SharedVpc,
            format!(
                "VPC {vpc_id} belongs to account {owner} and is shared with this one through AWS RAM; only its owner can give it endpoints: deploy vpce-guard in {owner}"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_the_contract_spells_them() {
        for code in Code::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str(), "{code:?}");
            assert_eq!(serde_json::from_value::<Code>(code.as_str().into()).unwrap(), code);
        }
    }
}
