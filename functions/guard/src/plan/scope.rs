//! Scope and profiles: whether a VPC is enrolled, and for which service profiles.

use std::collections::BTreeSet;

use crate::config::{is_api_service, is_notebook_service, Config, Profile, PublicDomains, Scope};
use crate::model::{tag_is, Domain, Observation, TAG_ENFORCE, TAG_MANAGED, TAG_PROFILES};

/// Is the VPC in scope, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolment {
    /// In scope, with the reason.
    Enrolled(&'static str),
    /// Out of scope, with the reason.
    Skipped(String),
    /// Cannot tell without reading the account's notebooks.
    NeedsNotebooks,
}

/// Decides whether a VPC is in scope (README.md, "Configuration" and "Tags").
pub fn enrolment(obs: &Observation, config: &Config) -> Enrolment {
    let tags = &obs.vpc.tags;
    if tag_is(tags, TAG_ENFORCE, "false") {
        return Enrolment::Skipped(format!("the VPC is tagged {TAG_ENFORCE}=false"));
    }
    if config.scope == Scope::All {
        return Enrolment::Enrolled("scope is all");
    }
    if tag_is(tags, TAG_ENFORCE, "true") {
        return Enrolment::Enrolled("tagged vpce-guard:enforce=true");
    }
    if obs.endpoints.iter().any(|e| e.state.is_live() && tag_is(&e.tags, TAG_MANAGED, "true")) {
        return Enrolment::Enrolled("holds an endpoint managed by vpce-guard");
    }
    if config.studio() && obs.domains.iter().flatten().any(|d| enrols(d, config)) {
        return Enrolment::Enrolled("holds a VPC-only Studio domain");
    }
    let studio_unread = config.studio() && obs.domains.is_none();
    match &obs.notebooks {
        Some(notebooks) if !notebooks.is_empty() => Enrolment::Enrolled("holds a notebook instance"),
        None => Enrolment::NeedsNotebooks,
        Some(_) if studio_unread => Enrolment::NeedsNotebooks,
        Some(_) => Enrolment::Skipped(match config.studio() {
            true => "not enrolled: no notebook instance, no VPC-only Studio domain, no managed endpoint and no vpce-guard:enforce=true tag".into(),
            false => "not enrolled: no notebook instance, no managed endpoint and no vpce-guard:enforce=true tag".into(),
        }),
    }
}

/// Whether a Studio domain enrols its VPC for the studio profile: VPC-only mode (or public
/// domains enforced too), and not being deleted.
pub fn enrols(domain: &Domain, config: &Config) -> bool {
    (domain.vpc_only || config.studio_public_domains == PublicDomains::Enforce)
        && !domain.status.to_ascii_lowercase().starts_with("delet")
}

/// The profiles an enrolled VPC is enrolled for: those its `vpce-guard:profiles` tag names;
/// else those it holds something for (a notebook instance or a managed notebook endpoint:
/// notebook instances; a VPC-only domain or a managed endpoint of a studio-only service:
/// studio); else (enrolled by tag, scope or a managed API endpoint alone) every configured
/// profile. Only configured profiles count.
pub fn profiles_of(obs: &Observation, config: &Config) -> BTreeSet<Profile> {
    let configured = &config.profiles;
    if let Some(tagged) = obs.vpc.tags.get(TAG_PROFILES) {
        let named: BTreeSet<Profile> =
            tagged.split(',').filter_map(Profile::parse).filter(|p| configured.contains(p)).collect();
        if !named.is_empty() {
            return named;
        }
    }
    let mut found = BTreeSet::new();
    let managed = obs.endpoints.iter().filter(|e| e.state.is_live() && tag_is(&e.tags, TAG_MANAGED, "true"));
    let studio_only =
        config.services_for(&obs.identity.region, &obs.service_azs, &[Profile::Studio].into_iter().collect());
    for endpoint in managed {
        if is_notebook_service(&endpoint.service) {
            found.insert(Profile::NotebookInstances);
        } else if !is_api_service(&endpoint.service) && studio_only.contains(&endpoint.service) {
            found.insert(Profile::Studio);
        }
    }
    if obs.notebooks.iter().flatten().next().is_some() {
        found.insert(Profile::NotebookInstances);
    }
    if obs.domains.iter().flatten().any(|d| enrols(d, config)) {
        found.insert(Profile::Studio);
    }
    found.retain(|p| configured.contains(p));
    if found.is_empty() {
        configured.clone()
    } else {
        found
    }
}
