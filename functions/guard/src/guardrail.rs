//! The opt-in IAM guardrail (`VPCE_GUARD_IAM_GUARDRAIL`): one customer managed policy per
//! region, kept in sync with this account's SageMaker API and notebook endpoints, that denies
//! opening notebooks (`CreatePresignedNotebookInstanceUrl`) other than through them, and with
//! the studio profile opening Studio (`CreatePresignedDomainUrl`) other than through the API
//! and Studio endpoints. It closes the internet door the SageMaker guide warns about.
//! vpce-guard never attaches it. Also the endpoint lists of the documents `vpce-guard
//! iam-policy` prints (the guardrail, the allow-style policy and the SCP).

use tracing::info;

use crate::account::{Account, ManagedPolicy, VpcSelector};
use crate::config::{
    api_service, is_api_service, is_notebook_service, is_studio_service, notebook_service, studio_service, Config,
};
use crate::error::Result;
use crate::guard::Guard;
use crate::model::{AccountIdentity, Endpoint};
use crate::policy::{self, AccessKey, AccessSources, GuardrailScope};
use crate::report::{Code, GuardrailReport, Outcome, Problem};

/// The IAM path of every policy vpce-guard owns (the template scopes its permissions to it).
pub const GUARDRAIL_PATH: &str = "/vpce-guard/";

/// IAM keeps at most this many versions of a managed policy.
const MAX_VERSIONS: usize = 5;

/// The guardrail's policy name in `region`: IAM is global, so each region has its own.
pub fn guardrail_name(name: &str, region: &str) -> String {
    format!("{name}-{region}")
}

/// The guardrail's ARN for `identity`.
pub fn guardrail_arn(identity: &AccountIdentity, name: &str) -> String {
    format!(
        "arn:{}:iam::{}:policy{GUARDRAIL_PATH}{}",
        identity.partition,
        identity.account_id,
        guardrail_name(name, &identity.region)
    )
}

/// This account's live SageMaker interface endpoints that the IAM policies name, in the VPCs
/// `selector` names: the API and notebook endpoints, and the Studio endpoints with the studio
/// profile. One paginated `DescribeVpcEndpoints`.
async fn access_endpoints<A: Account>(account: &A, selector: &VpcSelector, config: &Config) -> Result<Vec<Endpoint>> {
    let region = account.region().to_string();
    let mut services = vec![api_service(&region), notebook_service(&region)];
    if config.studio() {
        services.push(studio_service(&region));
    }
    let endpoints = account.describe_endpoints(selector, &services).await?;
    Ok(endpoints.into_iter().filter(|e| e.is_interface() && e.state.is_live()).collect())
}

/// What each door admits of `endpoints`, `value` of each (its id or its VPC), and the
/// configured endpoints (`VPCE_GUARD_GUARDRAIL_SOURCE_VPCES`) besides.
fn sources(endpoints: &[Endpoint], config: &Config, value: fn(&Endpoint) -> String) -> AccessSources {
    let through = |door: fn(&str) -> bool| -> Vec<String> {
        endpoints.iter().filter(|e| is_api_service(&e.service) || door(&e.service)).map(value).collect()
    };
    AccessSources {
        notebooks: through(is_notebook_service),
        studio: config.studio().then(|| through(is_studio_service)),
        configured: config.guardrail_source_vpces.clone(),
    }
}

/// The guardrail document for this account's live SageMaker endpoints (API and notebook; and
/// Studio with the studio profile); also what `vpce-guard iam-policy` prints. With the ids it
/// admits.
pub async fn guardrail_document<A: Account>(
    account: &A,
    identity: &AccountIdentity,
    config: &Config,
) -> Result<(serde_json::Value, GuardrailScope, Vec<String>)> {
    let endpoints = access_endpoints(account, &VpcSelector::All, config).await?;
    let sources = sources(&endpoints, config, |e| e.id.clone());
    let (document, scope) = policy::guardrail_policy(&sources, identity);
    Ok((document, scope, sources.all()))
}

/// What each door admits of the live endpoints of the VPCs `selector` names (`key`: their ids
/// or their VPCs), and the configured endpoints besides, read with one paginated
/// `DescribeVpcEndpoints`: what `iam-policy --style allow` and `--style scp` list.
pub async fn access_sources<A: Account>(
    account: &A,
    selector: &VpcSelector,
    key: AccessKey,
    config: &Config,
) -> Result<AccessSources> {
    let endpoints = access_endpoints(account, selector, config).await?;
    let value: fn(&Endpoint) -> String = match key {
        AccessKey::SourceVpce => |e| e.id.clone(),
        AccessKey::SourceVpc => |e| e.vpc_id.clone(),
    };
    Ok(sources(&endpoints, config, value))
}

/// What `vpce-guard iam-policy --style allow` prints: the SageMaker guide's identity policy
/// for the live endpoints of the VPCs `selector` names; `None` when there is no endpoint to name.
pub async fn allow_document<A: Account>(
    account: &A,
    selector: &VpcSelector,
    key: AccessKey,
    config: &Config,
) -> Result<Option<serde_json::Value>> {
    let sources = access_sources(account, selector, key, config).await?;
    Ok((!sources.all().is_empty()).then(|| policy::notebook_access_policy(key, &sources)))
}

impl<A: Account> Guard<A> {
    /// Brings the guardrail policy in line with the account's endpoints: nothing when it is
    /// semantically equal, else one new default version (deleting the oldest non-default one
    /// first when IAM's five are used). `None` when no guardrail is configured.
    pub async fn sync_guardrail(&self, dry_run: bool) -> Result<Option<GuardrailReport>> {
        let Some(name) = self.config().iam_guardrail.clone() else { return Ok(None) };
        let identity = self.identity().await?;
        let (document, scope, ids) = guardrail_document(self.account(), &identity, self.config()).await?;
        let text = document.to_string();
        let mut report = GuardrailReport {
            policy_arn: guardrail_arn(&identity, &name),
            outcome: Outcome::Compliant,
            endpoint_ids: if scope == GuardrailScope::Endpoints { ids.clone() } else { Vec::new() },
            size: policy::iam_policy_size(&document),
            actions: Vec::new(),
            problems: Vec::new(),
        };
        if scope == GuardrailScope::AnyEndpoint {
            report.problems.push(Problem::warning(
                Code::GuardrailFallback,
                format!(
                    "{} endpoint ids do not fit IAM's {}-character policy limit (or there are none yet); the guardrail denies notebooks opened through no VPC endpoint instead of through other endpoints than this account's",
                    ids.len(),
                    policy::MAX_IAM_POLICY_CHARS
                ),
            ));
        }
        let current = self.account().managed_policy(&report.policy_arn).await?;
        if current.as_ref().is_some_and(|p| policy::same_policy(Some(&p.document), &document)) {
            return Ok(Some(report));
        }
        report.outcome = if dry_run { Outcome::WouldChange } else { Outcome::Changed };
        if dry_run {
            return Ok(Some(report));
        }
        self.write_guardrail(current, &identity, &name, &text, &mut report.actions).await?;
        info!(policy = %report.policy_arn, endpoints = ids.len(), size = report.size, "guardrail updated");
        Ok(Some(report))
    }

    async fn write_guardrail(
        &self,
        current: Option<ManagedPolicy>,
        identity: &AccountIdentity,
        name: &str,
        document: &str,
        actions: &mut Vec<String>,
    ) -> Result<()> {
        let account = self.account();
        let Some(current) = current else {
            let description = "vpce-guard: notebooks open only through this account's SageMaker VPC endpoints (kept in sync; attach it yourself)";
            account
                .create_managed_policy(GUARDRAIL_PATH, &guardrail_name(name, &identity.region), description, document)
                .await?;
            actions.push("create_policy".into());
            return Ok(());
        };
        if current.versions.len() >= MAX_VERSIONS {
            if let Some((oldest, _)) = current.versions.iter().find(|(_, default)| !default) {
                account.delete_policy_version(&current.arn, oldest).await?;
                actions.push(format!("delete_version {oldest}"));
            }
        }
        account.create_policy_version(&current.arn, document).await?;
        actions.push("create_version".into());
        Ok(())
    }
}
