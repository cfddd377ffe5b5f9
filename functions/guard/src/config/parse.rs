//! Parsers of the settings' values: each names its variable and the accepted values in its
//! error, so that a bad value is a start-up error that says what to write instead.

use super::{ApiPolicy, NotebookPolicy, OnDnsConflict, Profile, PublicDomains, Scope};
use crate::error::{Error, Result};

pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn invalid(variable: &'static str, value: &str, expected: impl Into<String>) -> Error {
    Error::Config { variable, value: value.to_string(), expected: expected.into() }
}

/// Parses `VPCE_GUARD_SERVICES`: a comma list of service names, `{region}` allowed.
pub fn parse_services(text: &str) -> Result<Vec<String>> {
    const EXPECTED: &str = "expected a comma-separated list of endpoint service names such as \
        com.amazonaws.{region}.sagemaker.api,aws.sagemaker.{region}.notebook";
    let services = split_list(text);
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

/// Parses `VPCE_GUARD_PROFILES`: a comma list of `notebook-instances`, `studio`.
pub fn parse_profiles(text: &str) -> Result<std::collections::BTreeSet<Profile>> {
    const EXPECTED: &str = "expected a comma-separated list of: notebook-instances, studio";
    let mut profiles = std::collections::BTreeSet::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        profiles.insert(Profile::parse(item).ok_or_else(|| invalid("VPCE_GUARD_PROFILES", item, EXPECTED))?);
    }
    if profiles.is_empty() {
        return Err(invalid("VPCE_GUARD_PROFILES", text, EXPECTED));
    }
    Ok(profiles)
}

/// Parses `VPCE_GUARD_STUDIO_PUBLIC_DOMAINS`.
pub fn parse_public_domains(text: &str) -> Result<PublicDomains> {
    match text.to_ascii_lowercase().as_str() {
        "report" => Ok(PublicDomains::Report),
        "enforce" => Ok(PublicDomains::Enforce),
        _ => Err(invalid("VPCE_GUARD_STUDIO_PUBLIC_DOMAINS", text, "expected one of: report, enforce")),
    }
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
        "account-notebooks" => Ok(NotebookPolicy::AccountNotebooks),
        "org-notebooks" => Ok(NotebookPolicy::OrgNotebooks),
        "vpc-notebooks" => Ok(NotebookPolicy::VpcNotebooks),
        "none" => Ok(NotebookPolicy::None),
        _ => Err(invalid(
            "VPCE_GUARD_NOTEBOOK_POLICY",
            text,
            "expected one of: account-notebooks, org-notebooks, vpc-notebooks, none",
        )),
    }
}

/// Parses `VPCE_GUARD_API_POLICY`.
pub fn parse_api_policy(text: &str) -> Result<ApiPolicy> {
    match text.to_ascii_lowercase().as_str() {
        "account" => Ok(ApiPolicy::Account),
        "org" => Ok(ApiPolicy::Org),
        "none" => Ok(ApiPolicy::None),
        _ => Err(invalid("VPCE_GUARD_API_POLICY", text, "expected one of: account, org, none")),
    }
}

/// Parses `VPCE_GUARD_ON_DNS_CONFLICT`.
pub fn parse_on_dns_conflict(text: &str) -> Result<OnDnsConflict> {
    match text.to_ascii_lowercase().as_str() {
        "report" => Ok(OnDnsConflict::Report),
        "create" => Ok(OnDnsConflict::Create),
        _ => Err(invalid("VPCE_GUARD_ON_DNS_CONFLICT", text, "expected one of: report, create")),
    }
}

/// Parses `VPCE_GUARD_CLIENT_CIDRS`: a comma list of IPv4 or IPv6 CIDR blocks, written in
/// canonical form (no host bits set, as EC2 requires of a security group rule).
pub fn parse_client_cidrs(text: &str) -> Result<Vec<String>> {
    let mut cidrs: Vec<String> = Vec::new();
    for item in split_list(text) {
        let canonical = canonical_cidr(&item).map_err(|why| {
            invalid(
                "VPCE_GUARD_CLIENT_CIDRS",
                text,
                format!("{item:?} {why}; expected CIDR blocks such as 10.20.0.0/16,2001:db8::/32"),
            )
        })?;
        if !cidrs.contains(&canonical) {
            cidrs.push(canonical);
        }
    }
    Ok(cidrs)
}

/// The CIDR block `text` in canonical form, or why it is not one.
fn canonical_cidr(text: &str) -> std::result::Result<String, String> {
    use std::net::IpAddr;
    let (address, length) = text.split_once('/').ok_or("has no /prefix length")?;
    let address: IpAddr = address.parse().map_err(|_| "is not an IP address with a prefix length".to_string())?;
    let length: u8 = length.parse().map_err(|_| "has a prefix length that is not a number".to_string())?;
    let canonical = match address {
        IpAddr::V4(v4) if length <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
            std::net::Ipv4Addr::from(u32::from(v4) & mask).to_string()
        }
        IpAddr::V6(v6) if length <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(length)).unwrap_or(0);
            std::net::Ipv6Addr::from(u128::from(v6) & mask).to_string()
        }
        _ => return Err("has a prefix length out of range".into()),
    };
    if canonical != address.to_string() {
        return Err(format!("has host bits set (the network is {canonical}/{length})"));
    }
    Ok(format!("{canonical}/{length}"))
}

/// Parses `VPCE_GUARD_CLIENT_PREFIX_LISTS`: a comma list of managed prefix list ids.
pub fn parse_prefix_lists(text: &str) -> Result<Vec<String>> {
    let variable = "VPCE_GUARD_CLIENT_PREFIX_LISTS";
    parse_ids(variable, text, "pl-", 1..=17, "a managed prefix list id", "pl-0123456789abcdef0")
}

/// Parses `VPCE_GUARD_GUARDRAIL_SOURCE_VPCES`: a comma list of VPC endpoint ids (`vpce-`
/// followed by 8 or 17 hex digits, as EC2 makes them).
pub fn parse_source_vpces(text: &str) -> Result<Vec<String>> {
    let variable = "VPCE_GUARD_GUARDRAIL_SOURCE_VPCES";
    parse_ids(variable, text, "vpce-", 8..=17, "a VPC endpoint id", "vpce-0123456789abcdef0")
}

/// A comma list of AWS resource ids, `prefix` and `digits` lowercase hex digits each, without
/// repeats; `what` and `example` say what is expected.
fn parse_ids(
    variable: &'static str,
    text: &str,
    prefix: &str,
    digits: std::ops::RangeInclusive<usize>,
    what: &str,
    example: &str,
) -> Result<Vec<String>> {
    let mut ids: Vec<String> = Vec::new();
    for item in split_list(text) {
        let hex = item.strip_prefix(prefix).unwrap_or_default();
        if !digits.contains(&hex.len()) || !hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
            return Err(invalid(variable, text, format!("{item:?} is not {what}; expected ids such as {example}")));
        }
        if !ids.contains(&item) {
            ids.push(item);
        }
    }
    Ok(ids)
}

/// Parses `VPCE_GUARD_IAM_GUARDRAIL`: an IAM policy name (the region is appended to it).
pub fn parse_guardrail_name(text: &str) -> Result<String> {
    let valid = text.len() <= 100 && text.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !valid {
        return Err(invalid(
            "VPCE_GUARD_IAM_GUARDRAIL",
            text,
            "expected an IAM policy name: up to 100 of A-Z a-z 0-9 + = , . @ _ - (vpce-guard appends -<region>)",
        ));
    }
    Ok(text.to_string())
}

/// Parses a boolean variable: `true`/`false` (also `1`/`0`, `yes`/`no`).
pub fn parse_bool(variable: &'static str, text: &str) -> Result<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(variable, text, "expected true or false")),
    }
}

/// Parses a price in US dollars (`VPCE_GUARD_ENDPOINT_HOURLY_USD`): a non-negative decimal such
/// as `0.01` or `0.013`, at most 6 decimal places; returns millionths of a dollar.
pub fn parse_hourly_usd(variable: &'static str, text: &str) -> Result<u64> {
    const EXPECTED: &str = "expected a price in US dollars per endpoint and AZ and hour, a non-negative decimal \
        with at most 6 decimal places, such as 0.01";
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.chars().all(|c| c.is_ascii_digit());
    if text.starts_with('-') {
        return Err(invalid(variable, text, format!("a price cannot be negative; {EXPECTED}")));
    }
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 6 || whole.len() > 6 {
        return Err(invalid(variable, text, EXPECTED));
    }
    let whole: u64 = whole.parse().map_err(|_| invalid(variable, text, EXPECTED))?;
    let fraction: u64 = format!("{fraction:0<6}").parse().map_err(|_| invalid(variable, text, EXPECTED))?;
    Ok(whole * 1_000_000 + fraction)
}

/// Parses a duration (`VPCE_GUARD_PRUNE_IDLE_AFTER`): a whole number of seconds, minutes, hours
/// or days (`0s`, `30m`, `12h`, `7d`); returns seconds.
pub fn parse_duration(variable: &'static str, text: &str) -> Result<u64> {
    const EXPECTED: &str = "expected a duration: a whole number followed by s, m, h or d, such as 0s, 30m, 12h, 7d \
        (empty: never)";
    let unit = match text.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3_600,
        Some('d') => 86_400,
        _ => return Err(invalid(variable, text, EXPECTED)),
    };
    let number = &text[..text.len() - 1];
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(variable, text, EXPECTED));
    }
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|seconds| *seconds <= 100 * 365 * 86_400)
        .ok_or_else(|| invalid(variable, text, format!("{text:?} is too long; {EXPECTED}")))
}
