//! The AWS SDK adapter: [`SdkAccount`] implements [`Account`] and its capability traits, one
//! file each: `network` (VPCs, subnets, DNS attributes), `endpoints` (interface endpoints, the
//! S3 gateway, paced writes), `groups` (the managed security group), `sagemaker`, `access`
//! (IAM, Route 53, Organizations), `profiles` (the hosted zones of Route 53 Profiles) and
//! `findings` (Security Hub); the last two signed by hand in `signed`.
//! Here: the clients, the SDK configuration, the call counter, and the error mapping.

mod access;
mod endpoints;
mod findings;
mod groups;
mod network;
mod pacer;
mod profiles;
mod sagemaker;
mod signed;
mod trails;

pub use access::decode_document;
pub use pacer::WritePacer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::account::{Account, VpcSelector};
use crate::error::{aws_error, Error, Result};
use crate::model::{AccountIdentity, Tags};
use crate::report::ApiCalls;

/// EC2 accepts at most 200 values in one filter.
const FILTER_CHUNK: usize = 200;

/// Counts call attempts (retries included) as reads or writes by operation name.
#[derive(Debug, Default)]
struct CallCounter {
    read: AtomicU64,
    write: AtomicU64,
}

#[derive(Debug, Clone)]
struct CountCalls(Arc<CallCounter>);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "vpce-guard-call-counter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name().to_string()).unwrap_or_default();
        let is_read = ["Describe", "List", "Get"].iter().any(|prefix| operation.starts_with(prefix));
        let counter = if is_read { &self.0.read } else { &self.0.write };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The account as the AWS SDK sees it. Build once per process; clients are reused. EC2 and
/// SageMaker, which every run calls, are built at once; the clients of calls only some runs or
/// settings make (STS once per process, Route 53 and Route 53 Profiles for private DNS, IAM for the guardrail,
/// Organizations for the `org` modes, Security Hub) on first use, so that a start pays for none
/// of them.
#[derive(Debug, Clone)]
pub struct SdkAccount {
    ec2: aws_sdk_ec2::Client,
    sagemaker: aws_sdk_sagemaker::Client,
    lazy: Arc<LazyClients>,
    region: String,
    counter: Arc<CallCounter>,
    pacer: Arc<WritePacer>,
}

/// The clients [`SdkAccount`] builds on first use, from the configuration it was given.
#[derive(Debug)]
struct LazyClients {
    config: SdkConfig,
    sts: OnceLock<aws_sdk_sts::Client>,
    iam: OnceLock<aws_sdk_iam::Client>,
    route53: OnceLock<aws_sdk_route53::Client>,
    /// AWS Organizations' JSON 1.1 API, signed by hand ([`signed`]): one call, at start.
    organizations: OnceLock<signed::JsonApi>,
    /// Security Hub's REST-JSON API, signed by hand ([`signed`]).
    security_hub: OnceLock<signed::JsonApi>,
    /// Route 53 Profiles' REST-JSON API, signed by hand ([`signed`]): built when a VPC's
    /// hosted zones are first read.
    route53_profiles: OnceLock<signed::JsonApi>,
}

impl SdkAccount {
    fn sts(&self) -> &aws_sdk_sts::Client {
        let build = || aws_sdk_sts::config::Builder::from(&self.lazy.config).interceptor(self.counting()).build();
        self.lazy.sts.get_or_init(|| aws_sdk_sts::Client::from_conf(build()))
    }

    pub(super) fn iam(&self) -> &aws_sdk_iam::Client {
        let build = || aws_sdk_iam::config::Builder::from(&self.lazy.config).interceptor(self.counting()).build();
        self.lazy.iam.get_or_init(|| aws_sdk_iam::Client::from_conf(build()))
    }

    pub(super) fn route53(&self) -> &aws_sdk_route53::Client {
        let build = || aws_sdk_route53::config::Builder::from(&self.lazy.config).interceptor(self.counting()).build();
        self.lazy.route53.get_or_init(|| aws_sdk_route53::Client::from_conf(build()))
    }

    /// Organizations at its partition's one endpoint: us-east-1 for the commercial Regions,
    /// us-gov-west-1 for GovCloud (US), cn-northwest-1 for China (Organizations User Guide,
    /// "Region support for AWS Organizations"); elsewhere the stack's own Region.
    pub(super) fn organizations(&self) -> &signed::JsonApi {
        let region = match crate::config::partition_of(&self.region) {
            "aws" => "us-east-1",
            "aws-us-gov" => "us-gov-west-1",
            "aws-cn" => "cn-northwest-1",
            _ => self.region.as_str(),
        };
        let build = || {
            let target = "AWSOrganizationsV20161128";
            signed::JsonApi::json_1_1(&self.lazy.config, "organizations", target, region, self.counter.clone())
        };
        self.lazy.organizations.get_or_init(build)
    }

    fn security_hub(&self) -> &signed::JsonApi {
        let build = || signed::JsonApi::new(&self.lazy.config, "securityhub", &self.region, self.counter.clone());
        self.lazy.security_hub.get_or_init(build)
    }

    fn route53_profiles(&self) -> &signed::JsonApi {
        let build = || signed::JsonApi::new(&self.lazy.config, "route53profiles", &self.region, self.counter.clone());
        self.lazy.route53_profiles.get_or_init(build)
    }

    /// The interceptor that counts this account's calls.
    fn counting(&self) -> CountCalls {
        CountCalls(self.counter.clone())
    }
}

/// The SDK configuration loader vpce-guard uses: the standard chain (profiles, environment,
/// `AWS_ENDPOINT_URL`) with standard retries for throttling and transient faults, their waits
/// capped (2 s between attempts, 5 attempts) and each call bounded in time, so that a throttled
/// call cannot carry an invocation past its deadline margin. Endpoint writes are paced by
/// [`WritePacer`] before they reach AWS's throttle. Callers may adjust the loader (region,
/// profile, endpoint) before `load()`.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    let retries = RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(2));
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(25))
        .build();
    aws_config::defaults(BehaviorVersion::latest()).retry_config(retries).timeout_config(timeouts)
}

/// Loads the SDK configuration with [`sdk_loader`].
pub async fn load_sdk_config() -> SdkConfig {
    sdk_loader().load().await
}

impl SdkAccount {
    /// Clients for `config`; fails when no region is configured.
    pub fn new(config: &SdkConfig) -> Result<Self> {
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| Error::Config {
            variable: "AWS_REGION",
            value: String::new(),
            expected: "set AWS_REGION (or a profile's region) to the region vpce-guard should watch".into(),
        })?;
        let counter = Arc::new(CallCounter::default());
        let ec2 = aws_sdk_ec2::config::Builder::from(config).interceptor(CountCalls(counter.clone())).build();
        let sagemaker =
            aws_sdk_sagemaker::config::Builder::from(config).interceptor(CountCalls(counter.clone())).build();
        let lazy = LazyClients {
            config: config.clone(),
            sts: OnceLock::new(),
            iam: OnceLock::new(),
            route53: OnceLock::new(),
            organizations: OnceLock::new(),
            security_hub: OnceLock::new(),
            route53_profiles: OnceLock::new(),
        };
        Ok(Self {
            ec2: aws_sdk_ec2::Client::from_conf(ec2),
            sagemaker: aws_sdk_sagemaker::Client::from_conf(sagemaker),
            lazy: Arc::new(lazy),
            region,
            counter,
            pacer: Arc::new(WritePacer::default()),
        })
    }

    /// Replaces the endpoint-write pacing (e.g. for an emulator with a faster bucket).
    pub fn with_write_pacer(mut self, pacer: WritePacer) -> Self {
        self.pacer = Arc::new(pacer);
        self
    }

    /// Loads the configuration from the environment and builds the clients.
    pub async fn from_env() -> Result<Self> {
        Self::new(&load_sdk_config().await)
    }
}

fn ec2_tags(tags: &[Tag]) -> Tags {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

fn tag_specification(resource: ResourceType, tags: &Tags) -> TagSpecification {
    let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
    TagSpecification::builder().resource_type(resource).set_tags(Some(tags.collect())).build()
}

fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder().name(name).set_values(Some(values.to_vec())).build()
}

/// Splits a selector into filter chunks: `None` once for all VPCs.
fn vpc_chunks(selector: &VpcSelector) -> Vec<Option<Vec<String>>> {
    match selector {
        VpcSelector::All => vec![None],
        VpcSelector::Ids(ids) => ids.chunks(FILTER_CHUNK).map(|c| Some(c.to_vec())).collect(),
    }
}

impl Account for SdkAccount {
    fn region(&self) -> &str {
        &self.region
    }

    async fn identity(&self) -> Result<AccountIdentity> {
        let out = self.sts().get_caller_identity().send().await.map_err(|e| aws_error("GetCallerIdentity", e))?;
        Ok(AccountIdentity {
            account_id: out.account().unwrap_or_default().to_string(),
            partition: crate::config::partition_of(&self.region).to_string(),
            region: self.region.clone(),
            org_id: None,
        })
    }

    async fn organization_id(&self) -> Result<String> {
        self.describe_organization().await
    }

    fn api_calls(&self) -> ApiCalls {
        ApiCalls { read: self.counter.read.load(Ordering::Relaxed), write: self.counter.write.load(Ordering::Relaxed) }
    }
}
