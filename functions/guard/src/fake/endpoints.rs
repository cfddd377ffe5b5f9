//! The fake account's [`Endpoints`] and [`Gateways`], with the rules EC2 enforces that moto
//! does not: one subnet per AZ in AZs the service offers, private DNS only with both VPC DNS
//! attributes and a free name, client-token idempotency, the policy size limit, `pending`
//! after a modify that adds subnets, and the shared endpoint-write throttle.

use std::collections::{BTreeMap, BTreeSet};

use super::{rejected, selected, FakeAccount, FakeState};
use crate::account::{EndpointChange, Endpoints, Gateways, NewEndpoint, ServiceOffer, VpcSelector};
use crate::error::Result;
use crate::model::{Endpoint, EndpointState, S3Endpoint, S3View, Tags, VpcDns};

impl Endpoints for FakeAccount {
    async fn describe_endpoints(&self, selector: &VpcSelector, services: &[String]) -> Result<Vec<Endpoint>> {
        self.read();
        Ok(self.with_state(|s| {
            s.endpoints
                .values()
                .filter(|e| selected(selector, &e.vpc_id) && services.contains(&e.service))
                .cloned()
                .collect()
        }))
    }

    async fn endpoints_by_id(&self, endpoint_ids: &[String]) -> Result<Vec<Endpoint>> {
        self.read();
        Ok(self.with_state(|s| endpoint_ids.iter().filter_map(|id| s.endpoints.get(id).cloned()).collect()))
    }

    async fn services(&self, queries: &[String]) -> Result<BTreeMap<String, ServiceOffer>> {
        self.read();
        Ok(self.with_state(|s| {
            s.service_azs
                .iter()
                .filter(|(name, _)| queries.iter().any(|q| crate::testing::filter_matches(q, name)))
                .map(|(name, azs)| {
                    (
                        name.clone(),
                        ServiceOffer { azs: azs.clone(), private_dns_name: s.service_dns.get(name).cloned() },
                    )
                })
                .collect()
        }))
    }

    async fn create_endpoint(&self, request: &NewEndpoint) -> Result<Endpoint> {
        const OP: &str = "CreateVpcEndpoint";
        self.with_state(|s| {
            self.endpoint_write(s, OP)?;
            if let Some((id, original)) = s.tokens.get(&request.client_token) {
                return match original == request {
                    true => Ok(s.endpoints[id].clone()),
                    false => Err(rejected(
                        OP,
                        "IdempotentParameterMismatch",
                        "The client token has already been used with different parameters.",
                    )),
                };
            }
            if request.client_token.len() > 64 || !request.client_token.is_ascii() {
                return Err(rejected(OP, "InvalidParameterValue", "ClientToken must be at most 64 ASCII characters."));
            }
            if !s.vpcs.contains_key(&request.vpc_id) {
                return Err(rejected(
                    OP,
                    "InvalidVpcId.NotFound",
                    format!("The vpc ID '{}' does not exist", request.vpc_id),
                ));
            }
            if !s.service_azs.contains_key(&request.service) {
                return Err(rejected(
                    OP,
                    "InvalidServiceName",
                    format!("The Vpc Endpoint Service '{}' does not exist", request.service),
                ));
            }
            if let Some(missing) = request.group_ids.iter().find(|g| !s.groups.contains_key(*g)) {
                return Err(rejected(
                    OP,
                    "InvalidGroup.NotFound",
                    format!("The security group '{missing}' does not exist"),
                ));
            }
            s.may_write_groups(OP, &request.group_ids)?;
            s.check_subnets(OP, &request.vpc_id, &request.service, &request.subnet_ids)?;
            check_policy(OP, &request.policy)?;
            if request.private_dns {
                s.check_private_dns(OP, &request.vpc_id, &request.service, None)?;
            }
            let id = s.next("vpce");
            let endpoint = Endpoint {
                id: id.clone(),
                vpc_id: request.vpc_id.clone(),
                service: request.service.clone(),
                endpoint_type: "Interface".into(),
                state: s.new_endpoint_state.clone().unwrap_or(EndpointState::Available),
                subnet_ids: request.subnet_ids.clone(),
                group_ids: request.group_ids.clone(),
                policy: Some(request.policy.clone().unwrap_or_else(|| crate::policy::full_access_policy().to_string())),
                private_dns: request.private_dns,
                tags: request.tags.clone(),
            };
            s.endpoints.insert(id.clone(), endpoint.clone());
            s.tokens.insert(request.client_token.clone(), (id, request.clone()));
            Ok(endpoint)
        })
    }

    async fn modify_endpoint(&self, change: &EndpointChange) -> Result<()> {
        const OP: &str = "ModifyVpcEndpoint";
        self.with_state(|s| {
            self.endpoint_write(s, OP)?;
            let endpoint = s.endpoints.get(&change.endpoint_id).cloned().ok_or_else(|| {
                rejected(
                    OP,
                    "InvalidVpcEndpointId.NotFound",
                    format!("The Vpc Endpoint Id '{}' does not exist", change.endpoint_id),
                )
            })?;
            s.may_modify_endpoint(OP, &endpoint.id, &endpoint.tags)?;
            s.may_write_groups(OP, &change.add_group_ids)?;
            if endpoint.state != EndpointState::Available {
                return Err(rejected(
                    OP,
                    "IncorrectState",
                    format!("VPC endpoint {} is in state '{}'", endpoint.id, endpoint.state.as_str()),
                ));
            }
            let mut subnets = endpoint.subnet_ids.clone();
            subnets.extend(change.add_subnet_ids.iter().cloned());
            s.check_subnets(OP, &endpoint.vpc_id, &endpoint.service, &subnets)?;
            check_policy(OP, &change.policy)?;
            if change.private_dns == Some(true) {
                s.check_private_dns(OP, &endpoint.vpc_id, &endpoint.service, Some(&endpoint.id))?;
            }
            let pending_after = s.pending_after_modify && !change.add_subnet_ids.is_empty();
            let stored = s.endpoints.get_mut(&change.endpoint_id).expect("checked above");
            stored.subnet_ids = subnets;
            if pending_after {
                stored.state = EndpointState::Pending;
            }
            for group in &change.add_group_ids {
                if !stored.group_ids.contains(group) {
                    stored.group_ids.push(group.clone());
                }
            }
            if let Some(policy) = &change.policy {
                stored.policy = Some(policy.clone());
            }
            if let Some(private_dns) = change.private_dns {
                stored.private_dns = private_dns;
            }
            Ok(())
        })
    }

    async fn delete_endpoints(&self, endpoint_ids: &[String]) -> Result<Vec<(String, String)>> {
        const OP: &str = "DeleteVpcEndpoints";
        self.with_state(|s| {
            self.endpoint_write(s, OP)?;
            // IAM authorises every endpoint of the request: one the role may not delete fails it.
            for id in endpoint_ids {
                if let Some(endpoint) = s.endpoints.get(id) {
                    s.may_prune(OP, &format!("vpc-endpoint/{id}"), &endpoint.tags, &[])?;
                }
            }
            // "When you delete an interface endpoint, we delete its endpoint network interfaces"
            // (EC2 API reference, DeleteVpcEndpoints): it is `deleting` meanwhile, still holding
            // its private DNS name and its security groups, until `finish_deletions`. An id that
            // names no endpoint is an `Unsuccessful` item, not an error.
            let mut unsuccessful = Vec::new();
            for id in endpoint_ids {
                match s.endpoints.get_mut(id) {
                    None => unsuccessful.push((
                        id.clone(),
                        format!("InvalidVpcEndpoint.NotFound: The VpcEndpoint Id '{id}' does not exist"),
                    )),
                    Some(endpoint) if matches!(endpoint.state, EndpointState::Deleting | EndpointState::Deleted) => {}
                    Some(endpoint) => endpoint.state = EndpointState::Deleting,
                }
            }
            Ok(unsuccessful)
        })
    }

    async fn tag_endpoints(&self, endpoint_ids: &[String], tags: &Tags) -> Result<()> {
        let keys: Vec<String> = tags.keys().cloned().collect();
        self.retag("CreateTags", endpoint_ids, &keys, |held| held.extend(tags.clone()))
    }

    async fn untag_endpoints(&self, endpoint_ids: &[String], keys: &[String]) -> Result<()> {
        self.retag("DeleteTags", endpoint_ids, keys, |held| held.retain(|k, _| !keys.contains(k)))
    }
}

impl FakeAccount {
    /// `CreateTags` / `DeleteTags` on endpoints: every id must name one (EC2 fails the call as a
    /// whole otherwise), and the modelled role may tag only managed endpoints with the idle mark.
    fn retag(
        &self,
        operation: &'static str,
        endpoint_ids: &[String],
        keys: &[String],
        change: impl Fn(&mut Tags),
    ) -> Result<()> {
        self.with_state(|s| {
            self.write(s, operation);
            for id in endpoint_ids {
                let endpoint = s.endpoints.get(id).ok_or_else(|| {
                    rejected(
                        operation,
                        "InvalidVpcEndpointId.NotFound",
                        format!("The Vpc Endpoint Id '{id}' does not exist"),
                    )
                })?;
                s.may_prune(operation, &format!("vpc-endpoint/{id}"), &endpoint.tags, keys)?;
            }
            for id in endpoint_ids {
                change(&mut s.endpoints.get_mut(id).expect("checked above").tags);
            }
            Ok(())
        })
    }
}

impl Gateways for FakeAccount {
    async fn s3_view(&self, vpc_id: &str, _service: &str) -> Result<S3View> {
        self.read();
        self.read();
        Ok(self.with_state(|s| S3View {
            route_tables: s.route_tables.values().filter(|(v, _)| v == vpc_id).map(|(_, t)| t.clone()).collect(),
            endpoints: s.s3_endpoints.values().filter(|(v, _)| v == vpc_id).map(|(_, e)| e.clone()).collect(),
        }))
    }

    async fn create_s3_gateway(
        &self,
        vpc_id: &str,
        _service: &str,
        route_table_ids: &[String],
        client_token: &str,
        tags: &Tags,
    ) -> Result<S3Endpoint> {
        const OP: &str = "CreateVpcEndpoint";
        self.with_state(|s| {
            self.endpoint_write(s, OP)?;
            if let Some((vpc, tables, made)) = s.gateway_tokens.get(client_token) {
                if vpc != vpc_id || tables != route_table_ids {
                    return Err(rejected(
                        OP,
                        "IdempotentParameterMismatch",
                        format!("The client token '{client_token}' has already been used with different parameters."),
                    ));
                }
                let current = s.s3_endpoints.get(&made.id).map(|(_, e)| e.clone());
                return Ok(current.unwrap_or_else(|| S3Endpoint { live: false, ..made.clone() }));
            }
            if let Some(bad) = route_table_ids.iter().find(|t| s.route_tables.get(*t).is_none_or(|(v, _)| v != vpc_id))
            {
                return Err(rejected(
                    OP,
                    "InvalidRouteTableId.NotFound",
                    format!("The routeTable ID '{bad}' does not exist"),
                ));
            }
            let endpoint = S3Endpoint {
                id: s.next("vpce"),
                gateway: true,
                live: true,
                route_table_ids: route_table_ids.to_vec(),
                ignored: false,
                managed: crate::model::tag_is(tags, crate::model::TAG_MANAGED, "true"),
                private_dns: false,
                private_dns_inbound_only: false,
            };
            s.s3_endpoints.insert(endpoint.id.clone(), (vpc_id.into(), endpoint.clone()));
            let made = (vpc_id.to_string(), route_table_ids.to_vec(), endpoint.clone());
            s.gateway_tokens.insert(client_token.to_string(), made);
            Ok(endpoint)
        })
    }

    async fn add_route_tables(&self, endpoint_id: &str, route_table_ids: &[String]) -> Result<()> {
        const OP: &str = "ModifyVpcEndpoint";
        self.with_state(|s| {
            self.endpoint_write(s, OP)?;
            let tags = s.s3_endpoints.get(endpoint_id).map(|(_, e)| {
                let mut tags = Tags::new();
                if e.managed {
                    tags.insert(crate::model::TAG_MANAGED.into(), "true".into());
                }
                if e.ignored {
                    tags.insert(crate::model::TAG_IGNORE.into(), "true".into());
                }
                tags
            });
            if let Some(tags) = tags {
                s.may_modify_endpoint(OP, endpoint_id, &tags)?;
            }
            let (_, endpoint) = s.s3_endpoints.get_mut(endpoint_id).ok_or_else(|| {
                rejected(
                    OP,
                    "InvalidVpcEndpointId.NotFound",
                    format!("The Vpc Endpoint Id '{endpoint_id}' does not exist"),
                )
            })?;
            for table in route_table_ids {
                if !endpoint.route_table_ids.contains(table) {
                    endpoint.route_table_ids.push(table.clone());
                }
            }
            Ok(())
        })
    }
}

impl FakeState {
    /// Checks the subnets of an endpoint: in its VPC, one per AZ, AZs the service offers.
    fn check_subnets(&self, operation: &'static str, vpc_id: &str, service: &str, subnet_ids: &[String]) -> Result<()> {
        let mut seen_azs = BTreeSet::new();
        for id in subnet_ids {
            let subnet = self.subnets.get(id).filter(|s| s.vpc_id == vpc_id).ok_or_else(|| {
                rejected(
                    operation,
                    "InvalidSubnetID.NotFound",
                    format!("The subnet ID '{id}' does not exist in {vpc_id}"),
                )
            })?;
            if !self.service_azs.get(service).is_some_and(|azs| azs.contains(&subnet.az)) {
                return Err(rejected(
                    operation,
                    "InvalidParameter",
                    format!("The VPC endpoint service {service} does not support the availability zone of the subnet: {id}."),
                ));
            }
            if !seen_azs.insert(subnet.az.clone()) {
                return Err(rejected(
                    operation,
                    "DuplicateSubnetsInSameZone",
                    format!("Found another VPC endpoint subnet in the availability zone of {id}."),
                ));
            }
        }
        Ok(())
    }

    /// Private DNS needs both VPC attributes and a free DNS name.
    fn check_private_dns(
        &self,
        operation: &'static str,
        vpc_id: &str,
        service: &str,
        except: Option<&str>,
    ) -> Result<()> {
        let vpc = &self.vpcs[vpc_id];
        if vpc.dns != Some(VpcDns { support: true, hostnames: true }) {
            return Err(rejected(
                operation,
                "InvalidParameter",
                format!("Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for {vpc_id}"),
            ));
        }
        // A deleted endpoint stays `deleting` for a while and keeps its private DNS name until
        // it is gone (EC2 User Guide, "Delete an interface endpoint"; observed as the conflict
        // error until the state is `deleted`).
        let taken = self.endpoints.values().any(|e| {
            e.vpc_id == vpc_id
                && e.service == service
                && e.private_dns
                && (e.state.is_live() || e.state == EndpointState::Deleting)
                && Some(e.id.as_str()) != except
        });
        // A zone shared through the VPC's Route 53 Profile holds the name as well.
        let zones = self.zones_of(vpc_id).into_iter().chain(self.profile_zones_of(vpc_id));
        let zone = zones.into_iter().any(|z| self.service_dns.get(service).is_some_and(|n| z.serves(n)));
        let hidden = self.hidden_dns_holders.contains(&(vpc_id.to_string(), service.to_string()));
        if taken || zone || hidden {
            return Err(rejected(
                operation,
                "InvalidParameter",
                format!("private-dns-enabled cannot be set because there is already a conflicting DNS domain for {service} in the VPC {vpc_id}"),
            ));
        }
        Ok(())
    }
}

fn check_policy(operation: &'static str, policy: &Option<String>) -> Result<()> {
    match policy {
        Some(text) if text.chars().count() > crate::policy::MAX_POLICY_CHARS => {
            Err(rejected(operation, "InvalidParameter", "Policy document exceeds the 20480 character limit"))
        }
        Some(text) if serde_json::from_str::<serde_json::Value>(text).is_err() => {
            Err(rejected(operation, "MalformedPolicyDocument", "The policy document is not valid JSON"))
        }
        _ => Ok(()),
    }
}
