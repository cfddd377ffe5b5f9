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

    /// A notebook instance in `subnet_id` without direct internet access; returns its ARN.
    pub async fn notebook(&self, name: &str, subnet_id: &str, group_id: &str) -> Result<String> {
        self.notebook_with_access(name, subnet_id, group_id, false).await
    }

    /// A notebook instance in `subnet_id`, with `DirectInternetAccess` as given; returns its ARN.
    pub async fn notebook_with_access(
        &self,
        name: &str,
        subnet_id: &str,
        group_id: &str,
        direct_internet_access: bool,
    ) -> Result<String> {
        use aws_sdk_sagemaker::types::DirectInternetAccess;
        let access =
            if direct_internet_access { DirectInternetAccess::Enabled } else { DirectInternetAccess::Disabled };
        let out = self
            .sagemaker
            .create_notebook_instance()
            .notebook_instance_name(name)
            .instance_type(aws_sdk_sagemaker::types::InstanceType::MlT3Medium)
            .role_arn(ROLE_ARN)
            .subnet_id(subnet_id)
            .security_group_ids(group_id)
            .direct_internet_access(access)
            .send()
            .await?;
        Ok(out.notebook_instance_arn().context("no notebook arn")?.to_string())
    }

    /// Stops and deletes notebook instance `name`, as a person does (SageMaker deletes only a
    /// stopped notebook).
    pub async fn delete_notebook(&self, name: &str) -> Result<()> {
        self.sagemaker.stop_notebook_instance().notebook_instance_name(name).send().await?;
        self.sagemaker.delete_notebook_instance().notebook_instance_name(name).send().await?;
        Ok(())
    }

    /// Tags `resource_ids` with `key=value`, as a person (or an earlier sweep) would.
    pub async fn tag(&self, resource_ids: &[String], key: &str, value: &str) -> Result<()> {
        let tag = Tag::builder().key(key).value(value).build();
        self.ec2.create_tags().set_resources(Some(resource_ids.to_vec())).tags(tag).send().await?;
        Ok(())
    }

    /// A SageMaker Studio domain in `vpc_id` with `subnet_ids`, `VpcOnly` or (when
    /// `vpc_only` is false) the default `PublicInternetOnly`; returns its id.
    pub async fn domain(&self, name: &str, vpc_id: &str, subnet_ids: &[String], vpc_only: bool) -> Result<String> {
        use aws_sdk_sagemaker::types::{AppNetworkAccessType, AuthMode, UserSettings};
        let mut request = self
            .sagemaker
            .create_domain()
            .domain_name(name)
            .auth_mode(AuthMode::Iam)
            .default_user_settings(UserSettings::builder().execution_role(ROLE_ARN).build())
            .vpc_id(vpc_id)
            .set_subnet_ids(Some(subnet_ids.to_vec()));
        if vpc_only {
            request = request.app_network_access_type(AppNetworkAccessType::VpcOnly);
        }
        let out = request.send().await?;
        let arn = out.domain_arn().context("no domain arn")?;
        Ok(arn.rsplit('/').next().context("domain arn")?.to_string())
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

    /// Sources (CIDR blocks, prefix list ids) allowed on TCP 443 by security group `group_id`.
    pub async fn https_sources(&self, group_id: &str) -> Result<BTreeSet<String>> {
        Ok(self.https_rules(group_id).await?.into_keys().collect())
    }

    /// TCP 443 rules of security group `group_id`: source → description.
    pub async fn https_rules(&self, group_id: &str) -> Result<BTreeMap<String, String>> {
        let out = self.ec2.describe_security_groups().group_ids(group_id).send().await?;
        let mut rules = BTreeMap::new();
        for group in out.security_groups() {
            for permission in group.ip_permissions() {
                if permission.from_port() == Some(443) && permission.to_port() == Some(443) {
                    let text = |d: Option<&str>| d.unwrap_or_default().to_string();
                    for range in permission.ip_ranges() {
                        rules.insert(range.cidr_ip().unwrap_or_default().to_string(), text(range.description()));
                    }
                    for range in permission.ipv6_ranges() {
                        rules.insert(range.cidr_ipv6().unwrap_or_default().to_string(), text(range.description()));
                    }
                    for list in permission.prefix_list_ids() {
                        rules.insert(list.prefix_list_id().unwrap_or_default().to_string(), text(list.description()));
                    }
                }
            }
        }
        Ok(rules)
    }

    /// Adds a TCP 443 rule from `cidr` with `description`, as a person would.
    pub async fn allow_https(&self, group_id: &str, cidr: &str, description: &str) -> Result<()> {
        let range = aws_sdk_ec2::types::IpRange::builder().cidr_ip(cidr).description(description).build();
        let permission = aws_sdk_ec2::types::IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .ip_ranges(range)
            .build();
        self.ec2.authorize_security_group_ingress().group_id(group_id).ip_permissions(permission).send().await?;
        Ok(())
    }

    /// A managed prefix list holding `cidr` (the corporate ranges); returns its id.
    pub async fn prefix_list(&self, name: &str, cidr: &str) -> Result<String> {
        let entry = aws_sdk_ec2::types::AddPrefixListEntry::builder().cidr(cidr).build();
        let out = self
            .ec2
            .create_managed_prefix_list()
            .prefix_list_name(name)
            .address_family("IPv4")
            .max_entries(5)
            .entries(entry)
            .send()
            .await?;
        Ok(out.prefix_list().and_then(|p| p.prefix_list_id()).context("no prefix list id")?.to_string())
    }

    /// The managed security group of `vpc_id`.
    pub async fn managed_group(&self, vpc_id: &str) -> Result<String> {
        let filters = [
            aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(vpc_id).build(),
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values(vpce_guard::model::MANAGED_GROUP_NAME)
                .build(),
        ];
        let out = self.ec2.describe_security_groups().set_filters(Some(filters.to_vec())).send().await?;
        let group = out.security_groups().first().context("no managed group")?;
        Ok(group.group_id().context("no group id")?.to_string())
    }
}

/// The value of tag `key` on an endpoint.
pub fn tag<'a>(endpoint: &'a VpcEndpoint, key: &str) -> Option<&'a str> {
    endpoint.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}
