//! [`Endpoints`] and [`Gateways`] with EC2: interface endpoints, the services they connect to,
//! and the S3 gateway. Every endpoint write goes through the adaptive [`WritePacer`]
//! (`super::pacer`) with the SDK's own retries off, so that each attempt waits for a token.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::operation::create_vpc_endpoint::builders::CreateVpcEndpointFluentBuilder;
use aws_sdk_ec2::operation::create_vpc_endpoint::CreateVpcEndpointOutput;
use aws_sdk_ec2::operation::modify_vpc_endpoint::builders::ModifyVpcEndpointFluentBuilder;
use aws_sdk_ec2::types::{ResourceType, VpcEndpointType};

use super::{aws_error, ec2_tags, filter, tag_specification, vpc_chunks, SdkAccount};
use crate::account::{EndpointChange, Endpoints, Gateways, NewEndpoint, ServiceOffer, VpcSelector};
use crate::error::{Error, ErrorClass, Result};
use crate::model::{Endpoint, EndpointState, RouteTable, S3Endpoint, S3View, Tags};

impl Endpoints for SdkAccount {
    async fn describe_endpoints(&self, selector: &VpcSelector, services: &[String]) -> Result<Vec<Endpoint>> {
        let mut endpoints = Vec::new();
        for chunk in vpc_chunks(selector) {
            let mut filters = vec![filter("service-name", services)];
            filters.extend(chunk.map(|ids| filter("vpc-id", &ids)));
            let mut pages = self.ec2.describe_vpc_endpoints().set_filters(Some(filters)).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error("DescribeVpcEndpoints", e))?;
                endpoints.extend(page.vpc_endpoints().iter().map(to_endpoint));
            }
        }
        Ok(endpoints)
    }

    async fn endpoints_by_id(&self, endpoint_ids: &[String]) -> Result<Vec<Endpoint>> {
        // All at once; when one id is unknown (it fails the whole call), one at a time.
        if let Ok(out) =
            self.ec2.describe_vpc_endpoints().set_vpc_endpoint_ids(Some(endpoint_ids.to_vec())).send().await
        {
            return Ok(out.vpc_endpoints().iter().map(to_endpoint).collect());
        }
        let mut endpoints = Vec::new();
        for id in endpoint_ids {
            match self.ec2.describe_vpc_endpoints().vpc_endpoint_ids(id).send().await {
                Ok(out) => endpoints.extend(out.vpc_endpoints().iter().map(to_endpoint)),
                Err(e) if e.as_service_error().and_then(|s| s.code()).is_some_and(|c| c.ends_with(".NotFound")) => {}
                Err(e) => return Err(aws_error("DescribeVpcEndpoints", e)),
            }
        }
        Ok(endpoints)
    }

    async fn services(&self, queries: &[String]) -> Result<BTreeMap<String, ServiceOffer>> {
        // A service-name filter, not ServiceNames: a name the region does not offer fails a
        // ServiceNames call (InvalidServiceName), while a filter leaves it out, and a filter
        // value may be a pattern.
        let mut offers = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .ec2
                .describe_vpc_endpoint_services()
                .filters(filter("service-name", queries))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| aws_error("DescribeVpcEndpointServices", e))?;
            for detail in out.service_details() {
                let Some(name) = detail.service_name() else { continue };
                let offer = ServiceOffer {
                    azs: detail.availability_zones().iter().cloned().collect(),
                    private_dns_name: detail.private_dns_name().filter(|n| !n.is_empty()).map(str::to_string),
                };
                offers.insert(name.to_string(), offer);
            }
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => return Ok(offers),
            }
        }
    }

    async fn create_endpoint(&self, request: &NewEndpoint) -> Result<Endpoint> {
        let create = self
            .ec2
            .create_vpc_endpoint()
            .vpc_id(&request.vpc_id)
            .service_name(&request.service)
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .set_subnet_ids(Some(request.subnet_ids.clone()))
            .set_security_group_ids(Some(request.group_ids.clone()))
            .set_policy_document(request.policy.clone())
            .private_dns_enabled(request.private_dns)
            .client_token(&request.client_token)
            .tag_specifications(tag_specification(ResourceType::VpcEndpoint, &request.tags));
        let out = self.paced_create(create).await?;
        out.vpc_endpoint().map(to_endpoint).ok_or_else(empty_create_response)
    }

    async fn modify_endpoint(&self, change: &EndpointChange) -> Result<()> {
        let non_empty = |ids: &Vec<String>| (!ids.is_empty()).then(|| ids.clone());
        let request = self
            .ec2
            .modify_vpc_endpoint()
            .vpc_endpoint_id(&change.endpoint_id)
            .set_add_subnet_ids(non_empty(&change.add_subnet_ids))
            .set_add_security_group_ids(non_empty(&change.add_group_ids))
            .set_policy_document(change.policy.clone())
            .set_private_dns_enabled(change.private_dns);
        self.paced_modify(request).await?;
        Ok(())
    }

    async fn delete_endpoints(&self, endpoint_ids: &[String]) -> Result<Vec<(String, String)>> {
        // DeleteVpcEndpoints spends the same token bucket as creates and modifies: paced.
        let request = self.ec2.delete_vpc_endpoints().set_vpc_endpoint_ids(Some(endpoint_ids.to_vec()));
        let send = || {
            let attempt = request.clone().customize().config_override(no_sdk_retries());
            async move { attempt.send().await.map_err(|e| aws_error("DeleteVpcEndpoints", e)) }
        };
        let out = self.paced("DeleteVpcEndpoints", send).await?;
        Ok(out
            .unsuccessful()
            .iter()
            .map(|item| {
                let error = item.error();
                let code = error.and_then(|e| e.code()).unwrap_or("Unknown");
                let message = error.and_then(|e| e.message()).unwrap_or_default();
                (item.resource_id().unwrap_or_default().to_string(), format!("{code}: {message}"))
            })
            .collect())
    }

    async fn tag_endpoints(&self, endpoint_ids: &[String], tags: &Tags) -> Result<()> {
        let tags = tags.iter().map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build());
        self.ec2
            .create_tags()
            .set_resources(Some(endpoint_ids.to_vec()))
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map_err(|e| aws_error("CreateTags", e))?;
        Ok(())
    }

    async fn untag_endpoints(&self, endpoint_ids: &[String], keys: &[String]) -> Result<()> {
        // A tag named by its key alone: DeleteTags removes it whatever its value.
        let tags = keys.iter().map(|k| aws_sdk_ec2::types::Tag::builder().key(k).build());
        self.ec2
            .delete_tags()
            .set_resources(Some(endpoint_ids.to_vec()))
            .set_tags(Some(tags.collect()))
            .send()
            .await
            .map_err(|e| aws_error("DeleteTags", e))?;
        Ok(())
    }
}

impl Gateways for SdkAccount {
    async fn s3_view(&self, vpc_id: &str, service: &str) -> Result<S3View> {
        let vpc = [vpc_id.to_string()];
        let mut view = S3View::default();
        let mut pages = self.ec2.describe_route_tables().filters(filter("vpc-id", &vpc)).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeRouteTables", e))?;
            view.route_tables.extend(page.route_tables().iter().map(|t| RouteTable {
                id: t.route_table_id().unwrap_or_default().to_string(),
                subnet_ids: t.associations().iter().filter_map(|a| a.subnet_id().map(str::to_string)).collect(),
                main: t.associations().iter().any(|a| a.main() == Some(true)),
            }));
        }
        let filters = vec![filter("vpc-id", &vpc), filter("service-name", &[service.to_string()])];
        let mut pages = self.ec2.describe_vpc_endpoints().set_filters(Some(filters)).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeVpcEndpoints", e))?;
            view.endpoints.extend(page.vpc_endpoints().iter().map(to_s3_endpoint));
        }
        Ok(view)
    }

    async fn create_s3_gateway(
        &self,
        vpc_id: &str,
        service: &str,
        route_table_ids: &[String],
        client_token: &str,
        tags: &Tags,
    ) -> Result<S3Endpoint> {
        let request = self
            .ec2
            .create_vpc_endpoint()
            .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
            .vpc_id(vpc_id)
            .service_name(service)
            .set_route_table_ids(Some(route_table_ids.to_vec()))
            .client_token(client_token)
            .tag_specifications(tag_specification(ResourceType::VpcEndpoint, tags));
        let out = self.paced_create(request).await?;
        out.vpc_endpoint().map(to_s3_endpoint).ok_or_else(empty_create_response)
    }

    async fn add_route_tables(&self, endpoint_id: &str, route_table_ids: &[String]) -> Result<()> {
        let request = self
            .ec2
            .modify_vpc_endpoint()
            .vpc_endpoint_id(endpoint_id)
            .set_add_route_table_ids(Some(route_table_ids.to_vec()));
        self.paced_modify(request).await
    }
}

/// Attempts of one endpoint write, each paced by the [`WritePacer`]: the SDK's own retries are
/// off for these operations so that every attempt, the retries included, waits for a token.
const WRITE_ATTEMPTS: u32 = 6;

/// The longest one endpoint write may take, waits for tokens included (the SDK's operation
/// timeout for every other call), so that a slowed pacer cannot carry a run past its deadline.
const WRITE_BUDGET: Duration = Duration::from_secs(25);

impl SdkAccount {
    /// Sends the endpoint write `operation` (`send` builds and sends one attempt) through the
    /// pacer, retrying transient failures up to [`WRITE_ATTEMPTS`] times within [`WRITE_BUDGET`];
    /// a throttled answer slows the pacer down, a call that goes through speeds it up again.
    async fn paced<T, F, Fut>(&self, operation: &'static str, send: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let give_up_at = std::time::Instant::now() + WRITE_BUDGET;
        let mut attempt = 1;
        loop {
            if !self.pacer.acquire_within(give_up_at.saturating_duration_since(std::time::Instant::now())).await {
                return Err(Error::Aws {
                    operation,
                    code: "RequestLimitExceeded".into(),
                    message: format!(
                        "AWS throttled this account's endpoint writes and the next paced attempt would pass the \
                         write's {} s budget",
                        WRITE_BUDGET.as_secs()
                    ),
                    class: ErrorClass::Transient,
                });
            }
            match send().await {
                Ok(value) => {
                    self.pacer.succeeded();
                    return Ok(value);
                }
                Err(error) => {
                    let throttled = error.is_throttled();
                    if throttled {
                        self.pacer.throttled();
                    }
                    if error.class() == ErrorClass::Permanent || attempt == WRITE_ATTEMPTS {
                        return Err(error);
                    }
                    tracing::debug!(error = %error, attempt, rate = self.pacer.rate(), "endpoint write retried");
                    if !throttled {
                        // A fault, not the rate: the pacer's wait is no backoff, so wait here.
                        tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                    }
                    attempt += 1;
                }
            }
        }
    }
}

impl SdkAccount {
    /// `CreateVpcEndpoint`, paced ([`SdkAccount::paced`]).
    async fn paced_create(&self, request: CreateVpcEndpointFluentBuilder) -> Result<CreateVpcEndpointOutput> {
        let send = || {
            let attempt = request.clone().customize().config_override(no_sdk_retries());
            async move { attempt.send().await.map_err(|e| aws_error("CreateVpcEndpoint", e)) }
        };
        self.paced("CreateVpcEndpoint", send).await
    }

    /// `ModifyVpcEndpoint`, paced ([`SdkAccount::paced`]).
    async fn paced_modify(&self, request: ModifyVpcEndpointFluentBuilder) -> Result<()> {
        let send = || {
            let attempt = request.clone().customize().config_override(no_sdk_retries());
            async move { attempt.send().await.map(drop).map_err(|e| aws_error("ModifyVpcEndpoint", e)) }
        };
        self.paced("ModifyVpcEndpoint", send).await
    }
}

/// The per-operation override that turns the SDK's retries off ([`SdkAccount::paced`] retries).
fn no_sdk_retries() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default().retry_config(RetryConfig::disabled())
}

fn to_endpoint(endpoint: &aws_sdk_ec2::types::VpcEndpoint) -> Endpoint {
    Endpoint {
        id: endpoint.vpc_endpoint_id().unwrap_or_default().to_string(),
        vpc_id: endpoint.vpc_id().unwrap_or_default().to_string(),
        service: endpoint.service_name().unwrap_or_default().to_string(),
        endpoint_type: endpoint.vpc_endpoint_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        // EC2 sends lowercase states the SDK enum cannot parse (aws-sdk-rust#619): use the string.
        state: EndpointState::parse(endpoint.state().map(|s| s.as_str()).unwrap_or_default()),
        subnet_ids: endpoint.subnet_ids().to_vec(),
        group_ids: endpoint.groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect(),
        policy: endpoint.policy_document().map(str::to_string),
        private_dns: endpoint.private_dns_enabled().unwrap_or(false),
        tags: ec2_tags(endpoint.tags()),
    }
}

/// An S3 endpoint as the S3 reachability check needs it.
fn to_s3_endpoint(e: &aws_sdk_ec2::types::VpcEndpoint) -> S3Endpoint {
    let endpoint = to_endpoint(e);
    let inbound_only = e.dns_options().and_then(|o| o.private_dns_only_for_inbound_resolver_endpoint());
    S3Endpoint {
        ignored: crate::model::tag_is(&endpoint.tags, crate::model::TAG_IGNORE, "true"),
        managed: crate::model::tag_is(&endpoint.tags, crate::model::TAG_MANAGED, "true"),
        gateway: endpoint.endpoint_type.eq_ignore_ascii_case("gateway"),
        live: endpoint.state.is_live(),
        route_table_ids: e.route_table_ids().to_vec(),
        private_dns: endpoint.private_dns,
        private_dns_inbound_only: inbound_only.unwrap_or(false),
        id: endpoint.id,
    }
}

/// A `CreateVpcEndpoint` answer without the endpoint.
fn empty_create_response() -> Error {
    Error::Aws {
        operation: "CreateVpcEndpoint",
        code: "EmptyResponse".into(),
        message: "the response holds no endpoint".into(),
        class: ErrorClass::Transient,
    }
}
