//! What a VPC's managed interface endpoints cost (issue 20): AWS bills an interface endpoint per
//! AZ it has a network interface in, per hour. Estimates only: the hourly price is a setting
//! (`VPCE_GUARD_ENDPOINT_HOURLY_USD`), data processing is not counted.

use crate::config::Config;
use crate::model::{tag_is, Endpoint, Observation, TAG_MANAGED};
use crate::report::{Action, Usd, VpcCost};

/// An interface endpoint vpce-guard manages (tagged `vpce-guard:managed=true`) that AWS bills:
/// not being deleted, not failed.
pub fn billed(endpoint: &Endpoint) -> bool {
    endpoint.is_interface() && endpoint.state.is_live() && tag_is(&endpoint.tags, TAG_MANAGED, "true")
}

/// An endpoint's endpoint-AZs: one network interface per subnet, at most one subnet per AZ.
pub fn endpoint_azs(endpoint: &Endpoint) -> usize {
    endpoint.subnet_ids.len()
}

/// What `endpoint_azs` endpoint-AZs cost per month at the configured price.
pub fn monthly(config: &Config, endpoint_azs: i64) -> Usd {
    Usd::monthly(endpoint_azs, config.endpoint_hourly_micro_usd)
}

/// The managed endpoints of `obs` (as the VPC stands) and what `actions` add or remove.
pub fn vpc_cost(obs: &Observation, config: &Config, actions: &[Action]) -> VpcCost {
    let managed: Vec<&Endpoint> = obs.endpoints.iter().filter(|e| e.vpc_id == obs.vpc.id && billed(e)).collect();
    let azs: usize = managed.iter().map(|e| endpoint_azs(e)).sum();
    let is_managed = |id: &str| obs.endpoints.iter().any(|e| e.id == id && tag_is(&e.tags, TAG_MANAGED, "true"));
    let delta: i64 = actions
        .iter()
        .map(|action| match action {
            Action::CreateEndpoint { subnet_ids, .. } => subnet_ids.len() as i64,
            Action::AddSubnets { endpoint_id, subnet_ids } if is_managed(endpoint_id) => subnet_ids.len() as i64,
            Action::DeleteEndpoint { azs, .. } => -(*azs as i64),
            _ => 0,
        })
        .sum();
    VpcCost {
        endpoints: managed.len(),
        endpoint_azs: azs,
        monthly_usd: monthly(config, azs as i64),
        monthly_delta_usd: monthly(config, delta),
    }
}
