//! Which units (account × region) a multi-unit run covers, and the SDK configuration of each:
//! the caller's account or, with `--org-role`, every ACTIVE account of the Organization (or
//! those of `--accounts`) through role NAME; the regions of `--regions`, or every region
//! enabled in the account (`--all-regions`), or the profile's region. An account that cannot
//! be entered (the role refused, its regions unreadable) yields error units, never an error
//! of the whole run.

use std::future::Future;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_sdk_sts::config::SharedCredentialsProvider;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use vpce_guard::error::aws_error;

use crate::args::UnitFlags;

/// The session name of every role vpce-guard assumes (CloudTrail shows it).
pub const SESSION_NAME: &str = "vpce-guard-cli";

/// The region of a unit whose account could not be asked for its regions (`--all-regions`).
pub const ALL_REGIONS: &str = "*";

/// One account × region.
#[derive(Debug, Clone)]
pub struct Unit {
    /// 12-digit account id.
    pub account: String,
    /// Region name, or [`ALL_REGIONS`].
    pub region: String,
    /// The SDK configuration of the unit (region and credentials), or why there is none.
    pub config: Result<SdkConfig, String>,
}

/// Which regions each account covers.
#[derive(Debug, Clone)]
enum Regions {
    /// The profile's region.
    Home(String),
    /// `--regions`.
    Listed(Vec<String>),
    /// `--all-regions`: EC2 DescribeRegions in each account.
    Enabled,
}

/// The units of `flags`, the caller's credentials and region in `base`, at most `limit` accounts
/// looked at a time. Fails only when the caller's own identity or the Organization's account
/// list cannot be read.
pub async fn discover(base: &SdkConfig, flags: &UnitFlags, limit: usize) -> Result<Vec<Unit>> {
    let regions = match (flags.all_regions, flags.regions.as_slice(), base.region()) {
        (true, _, _) => Regions::Enabled,
        (false, [], Some(home)) => Regions::Home(home.to_string()),
        (false, [], None) => bail!("no region: pass --region or --regions (or set AWS_REGION)"),
        (false, listed, _) => Regions::Listed(unique(listed.to_vec())),
    };
    let base = match (base.region(), &regions) {
        (Some(_), _) => base.clone(),
        (None, Regions::Listed(listed)) => base.to_builder().region(Region::new(listed[0].clone())).build(),
        (None, _) => bail!("no region to call STS in: pass --region (or set AWS_REGION)"),
    };
    let sts = aws_sdk_sts::Client::new(&base);
    let caller = sts.get_caller_identity().send().await.map_err(|e| aws_error("GetCallerIdentity", e))?;
    let caller_account = caller.account().unwrap_or_default().to_string();
    // The partition of the region STS was called in: one function decides it, for the library too.
    let partition = base.region().map_or("aws", |r| vpce_guard::config::partition_of(r.as_ref())).to_string();
    let accounts = match (&flags.org_role, flags.accounts.as_slice()) {
        (None, _) => vec![caller_account],
        (Some(_), []) => organization_accounts(&base).await?,
        (Some(_), listed) => {
            let mut listed = unique(listed.to_vec());
            listed.sort();
            listed
        }
    };
    if accounts.is_empty() {
        bail!("the Organization lists no ACTIVE account; name the accounts with --accounts");
    }
    let role = flags.org_role.clone();
    let per_account = bounded(accounts, limit, |account| {
        let (base, role, regions, partition) = (base.clone(), role.clone(), regions.clone(), partition.clone());
        async move {
            let role_arn = role.map(|name| format!("arn:{partition}:iam::{account}:role/{name}"));
            account_units(&base, account, role_arn.as_deref(), &regions).await
        }
    })
    .await;
    Ok(per_account.into_iter().flatten().collect())
}

/// The units of one account: its credentials (the caller's, or the role assumed), then its regions.
async fn account_units(base: &SdkConfig, account: String, role_arn: Option<&str>, regions: &Regions) -> Vec<Unit> {
    let entered = match role_arn {
        None => Ok(base.clone()),
        Some(arn) => assume(base, arn).await,
    };
    let names = match (&entered, regions) {
        (_, Regions::Home(home)) => Ok(vec![home.clone()]),
        (_, Regions::Listed(listed)) => Ok(listed.clone()),
        (Ok(config), Regions::Enabled) => enabled_regions(config).await,
        (Err(_), Regions::Enabled) => Ok(vec![ALL_REGIONS.to_string()]),
    };
    let (config, names) = match (entered, names) {
        (Ok(config), Ok(names)) => (Ok(config), names),
        (Err(error), Ok(names)) => (Err(error), names),
        (_, Err(error)) => (Err(error), vec![ALL_REGIONS.to_string()]),
    };
    names
        .into_iter()
        .map(|region| Unit {
            account: account.clone(),
            config: config
                .as_ref()
                .map(|c| c.to_builder().region(Region::new(region.clone())).build())
                .map_err(crate::one_line),
            region,
        })
        .collect()
}

/// The caller's configuration with the credentials of `role_arn`, refreshed as they expire.
/// One AssumeRole first, so that a refusal is this account's error and not a late failure of
/// every call.
async fn assume(base: &SdkConfig, role_arn: &str) -> Result<SdkConfig, anyhow::Error> {
    let sts = aws_sdk_sts::Client::new(base);
    sts.assume_role()
        .role_arn(role_arn)
        .role_session_name(SESSION_NAME)
        .send()
        .await
        .map_err(|e| aws_error("AssumeRole", e))
        .with_context(|| format!("cannot assume {role_arn}"))?;
    let provider = AssumeRoleProvider::builder(role_arn).session_name(SESSION_NAME).configure(base).build().await;
    Ok(base.to_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build())
}

/// The regions enabled in the account of `config` (DescribeRegions lists only those by default).
async fn enabled_regions(config: &SdkConfig) -> Result<Vec<String>, anyhow::Error> {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let out = ec2
        .describe_regions()
        .send()
        .await
        .map_err(|e| aws_error("DescribeRegions", e))
        .context("cannot list the account's regions")?;
    let mut names: Vec<String> = out.regions().iter().filter_map(|r| r.region_name().map(str::to_string)).collect();
    names.sort();
    Ok(names)
}

/// The ACTIVE accounts of the caller's Organization, by id.
async fn organization_accounts(base: &SdkConfig) -> Result<Vec<String>> {
    let organizations = aws_sdk_organizations::Client::new(base);
    let pages = organizations
        .list_accounts()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("ListAccounts", e))
        .context("cannot list the Organization's accounts; name them with --accounts")?;
    let accounts: Vec<_> = pages.iter().flat_map(|page| page.accounts()).collect();
    // `State` replaced the deprecated `Status`; read the old one when only it is present.
    #[allow(deprecated)]
    let is_active = |account: &aws_sdk_organizations::types::Account| match account.state() {
        Some(state) => state.as_str() == "ACTIVE",
        None => account.status().is_some_and(|status| status.as_str() == "ACTIVE"),
    };
    let mut ids: Vec<String> =
        accounts.iter().filter(|a| is_active(a)).filter_map(|a| a.id().map(str::to_string)).collect();
    ids.sort();
    Ok(ids)
}

fn unique(mut items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    items.retain(|item| seen.insert(item.clone()));
    items
}

/// Runs `work` on every item, at most `limit` at a time; the results in the items' order.
pub async fn bounded<I, T, F, Fut>(items: Vec<I>, limit: usize, work: F) -> Vec<T>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limit.max(1)));
    let mut tasks = JoinSet::new();
    let count = items.len();
    for (index, item) in items.into_iter().enumerate() {
        let permits = permits.clone();
        let task = work(item);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("the semaphore is never closed");
            (index, task.await)
        });
    }
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, result)) => results[index] = Some(result),
            Err(failure) => std::panic::resume_unwind(failure.into_panic()),
        }
    }
    results.into_iter().map(|r| r.expect("every task returned")).collect()
}

#[cfg(test)]
mod tests {
    use aws_sdk_sts::config::http::HttpResponse;
    use aws_sdk_sts::error::{ErrorMetadata, SdkError};
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    use vpce_guard::ErrorClass;

    use super::*;

    /// An `AssumeRole` answered with HTTP `status` and error `code`, as the SDK hands it back.
    fn answered(status: u16, code: &str) -> SdkError<AssumeRoleError, HttpResponse> {
        let error = AssumeRoleError::generic(ErrorMetadata::builder().code(code).message("as AWS says").build());
        SdkError::service_error(error, HttpResponse::new(status.try_into().expect("a status"), "{}".into()))
    }

    /// The CLI's units fail the way the functions do: throttling and server errors are
    /// transient (a later run can succeed), every other service error permanent; the unit's
    /// error row says which.
    #[test]
    fn service_errors_are_classified_as_on_the_lambda_path() {
        use ErrorClass::{Permanent, Transient};
        let cases = [
            (400, "Throttling", Transient),
            (400, "ThrottlingException", Transient),
            (429, "TooManyRequestsException", Transient),
            (503, "RequestLimitExceeded", Transient),
            (500, "InternalFailure", Transient),
            (503, "ServiceUnavailable", Transient),
            (403, "AccessDenied", Permanent),
            (400, "ValidationError", Permanent),
            (404, "NoSuchEntity", Permanent),
        ];
        for (status, code, class) in cases {
            let error = aws_error("AssumeRole", answered(status, code));
            assert_eq!((error.aws_code(), error.class()), (Some(code), class), "HTTP {status} {code}");
            let row = crate::one_line(&anyhow::Error::from(error).context("cannot assume the role"));
            assert!(row.contains(&format!("{code}: as AWS says ({class}.Aws)")), "{row}");
        }
    }
}
