//! Builds accounts in the fixture through the real AWS SDK, and reads their state back for
//! assertions.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, ResourceType, Tag, TagSpecification, VpcAttributeName, VpcEndpoint,
};
use aws_sdk_ec2::Client as Ec2;
use aws_sdk_sagemaker::Client as SageMaker;

/// The notebook execution role every seeded notebook uses.
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/SageMakerExecution";

/// EC2 and SageMaker clients on one fixture.
#[derive(Clone)]
pub struct Seed {
    /// EC2 client.
    pub ec2: Ec2,
    /// SageMaker client.
    pub sagemaker: SageMaker,
}

impl Seed {
    /// Clients for `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self { ec2: Ec2::new(config), sagemaker: SageMaker::new(config) }
    }

    /// A VPC with `cidr` and `tags` (DNS hostnames off, as EC2 creates it).
    pub async fn vpc(&self, cidr: &str, tags: &[(&str, &str)]) -> Result<String> {
        let mut request = self.ec2.create_vpc().cidr_block(cidr);
        if !tags.is_empty() {
            let tags = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect();
            request = request.tag_specifications(
                TagSpecification::builder().resource_type(ResourceType::Vpc).set_tags(Some(tags)).build(),
            );
        }
        let out = request.send().await?;
        Ok(out.vpc().and_then(|v| v.vpc_id()).context("no vpc id")?.to_string())
    }

    /// A subnet of `vpc_id` in `az`.
    pub async fn subnet(&self, vpc_id: &str, cidr: &str, az: &str) -> Result<String> {
        let out = self.ec2.create_subnet().vpc_id(vpc_id).cidr_block(cidr).availability_zone(az).send().await?;
        Ok(out.subnet().and_then(|s| s.subnet_id()).context("no subnet id")?.to_string())
    }

    /// A VPC 10.N.0.0/16 with `per_az` /24 subnets in each of `azs`; returns (vpc, subnets by AZ).
    pub async fn vpc_with_subnets(
        &self,
        n: u8,
        azs: &[&str],
        per_az: usize,
    ) -> Result<(String, BTreeMap<String, Vec<String>>)> {
        let vpc = self.vpc(&format!("10.{n}.0.0/16"), &[]).await?;
        let mut subnets = BTreeMap::new();
        let mut third = 0;
        for az in azs {
            for _ in 0..per_az {
                let id = self.subnet(&vpc, &format!("10.{n}.{third}.0/24"), az).await?;
                subnets.entry(az.to_string()).or_insert_with(Vec::new).push(id);
                third += 1;
            }
        }
        Ok((vpc, subnets))
    }

    /// A security group for notebooks in `vpc_id`.
    pub async fn notebook_group(&self, vpc_id: &str) -> Result<String> {
        let out = self
            .ec2
            .create_security_group()
            .vpc_id(vpc_id)
            .group_name("notebooks")
            .description("notebooks")
            .send()
            .await?;
        Ok(out.group_id().context("no group id")?.to_string())
    }

    /// A notebook instance in `subnet_id`; returns its ARN.
    pub async fn notebook(&self, name: &str, subnet_id: &str, group_id: &str) -> Result<String> {
        let out = self
            .sagemaker
            .create_notebook_instance()
            .notebook_instance_name(name)
            .instance_type(aws_sdk_sagemaker::types::InstanceType::MlT3Medium)
            .role_arn(ROLE_ARN)
            .subnet_id(subnet_id)
            .security_group_ids(group_id)
            .send()
            .await?;
        Ok(out.notebook_instance_arn().context("no notebook arn")?.to_string())
    }

    /// Sets `enableDnsHostnames`.
    pub async fn set_dns_hostnames(&self, vpc_id: &str, on: bool) -> Result<()> {
        let value = AttributeBooleanValue::builder().value(on).build();
        self.ec2.modify_vpc_attribute().vpc_id(vpc_id).enable_dns_hostnames(value).send().await?;
        Ok(())
    }

    /// (`enableDnsSupport`, `enableDnsHostnames`).
    pub async fn dns(&self, vpc_id: &str) -> Result<(bool, bool)> {
        let read = |a: VpcAttributeName| self.ec2.describe_vpc_attribute().vpc_id(vpc_id).attribute(a).send();
        let support = read(VpcAttributeName::EnableDnsSupport).await?;
        let hostnames = read(VpcAttributeName::EnableDnsHostnames).await?;
        Ok((
            support.enable_dns_support().and_then(|v| v.value()).unwrap_or(false),
            hostnames.enable_dns_hostnames().and_then(|v| v.value()).unwrap_or(false),
        ))
    }

    /// Every endpoint of `vpc_id`, in every state.
    pub async fn endpoints(&self, vpc_id: &str) -> Result<Vec<VpcEndpoint>> {
        let filter = Filter::builder().name("vpc-id").values(vpc_id).build();
        let out = self.ec2.describe_vpc_endpoints().filters(filter).send().await?;
        Ok(out.vpc_endpoints().to_vec())
    }

    /// Endpoints of `vpc_id` not deleted, by service name.
    pub async fn live_endpoints(&self, vpc_id: &str) -> Result<BTreeMap<String, Vec<VpcEndpoint>>> {
        let mut by_service: BTreeMap<String, Vec<VpcEndpoint>> = BTreeMap::new();
        for endpoint in self.endpoints(vpc_id).await? {
            let state = endpoint.state().map(|s| s.as_str().to_ascii_lowercase()).unwrap_or_default();
            if !["deleted", "deleting", "failed", "rejected", "expired"].contains(&state.as_str()) {
                by_service.entry(endpoint.service_name().unwrap_or_default().to_string()).or_default().push(endpoint);
            }
        }
        Ok(by_service)
    }

    /// AZ of each subnet of `vpc_id`.
    pub async fn subnet_azs(&self, vpc_id: &str) -> Result<BTreeMap<String, String>> {
        let filter = Filter::builder().name("vpc-id").values(vpc_id).build();
        let out = self.ec2.describe_subnets().filters(filter).send().await?;
        Ok(out
            .subnets()
            .iter()
            .map(|s| {
                (s.subnet_id().unwrap_or_default().to_string(), s.availability_zone().unwrap_or_default().to_string())
            })
            .collect())
    }

    /// The AZs an endpoint's subnets are in, as a list (duplicates kept, to catch them).
    pub async fn endpoint_azs(&self, vpc_id: &str, endpoint: &VpcEndpoint) -> Result<Vec<String>> {
        let azs = self.subnet_azs(vpc_id).await?;
        let mut list: Vec<String> =
            endpoint.subnet_ids().iter().map(|s| azs.get(s).cloned().unwrap_or_default()).collect();
        list.sort();
        Ok(list)
    }

    /// CIDR sources allowed on TCP 443 by security group `group_id`.
    pub async fn https_sources(&self, group_id: &str) -> Result<BTreeSet<String>> {
        let out = self.ec2.describe_security_groups().group_ids(group_id).send().await?;
        let mut sources = BTreeSet::new();
        for group in out.security_groups() {
            for permission in group.ip_permissions() {
                if permission.from_port() == Some(443) && permission.to_port() == Some(443) {
                    sources.extend(permission.ip_ranges().iter().filter_map(|r| r.cidr_ip().map(str::to_string)));
                    sources.extend(permission.ipv6_ranges().iter().filter_map(|r| r.cidr_ipv6().map(str::to_string)));
                }
            }
        }
        Ok(sources)
    }
}

/// The value of tag `key` on an endpoint.
pub fn tag<'a>(endpoint: &'a VpcEndpoint, key: &str) -> Option<&'a str> {
    endpoint.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}
