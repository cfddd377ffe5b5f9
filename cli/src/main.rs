//! `vpce-guard`: the command-line door to the same reconciler the Lambda functions run.
//! `plan` shows what is out of line (exit 2), `apply` fixes it (exit 3 when problems remain),
//! `iam-policy` prints the IAM policy that ties notebook access to the endpoints.

mod args;
mod output;

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use aws_config::Region;
use clap::Parser;
use vpce_guard::account::{Account, VpcSelector};
use vpce_guard::aws::{sdk_loader, SdkAccount};
use vpce_guard::config::{api_service, notebook_service, Config};
use vpce_guard::events::{is_resource_id, Parsed, Trigger};
use vpce_guard::guardrail::guardrail_document;
use vpce_guard::policy::{notebook_access_policy, AccessCondition, GuardrailScope};
use vpce_guard::report::{Outcome, Report};
use vpce_guard::{Error, Guard, RunOptions};

use args::{Cli, Command, Condition, Output, PolicyStyle, Target};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let message = match error.downcast_ref::<Error>() {
                Some(Error::BadEvent(message)) => message.clone(),
                Some(Error::Config { variable, value, expected }) if variable.starts_with("VPCE_GUARD_") => {
                    let flag = variable.trim_start_matches("VPCE_GUARD_").to_ascii_lowercase().replace('_', "-");
                    format!("--{flag} (or {variable}) {value:?} is not valid; {expected}")
                }
                _ => format!("{error:#}"),
            };
            eprintln!("vpce-guard: {message}");
            ExitCode::from(1)
        }
    }
}

/// Warnings only, on stderr, unless RUST_LOG asks for more.
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    vpce_guard::lambda::init_tracing();
}

async fn run(cli: Cli) -> Result<u8> {
    let global = &cli.global;
    let config = Config::from_lookup(|name| global.lookup(name))?;
    let mut loader = sdk_loader();
    if let Some(region) = &global.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &global.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &global.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let account = SdkAccount::new(&loader.load().await)?;
    let mut guard = Guard::new(account, config.clone());
    let bar = progress_bar();
    if let Some(bar) = &bar {
        let bar = bar.clone();
        guard = guard.with_progress(std::sync::Arc::new(move |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }));
    }
    let code = match &cli.command {
        Command::Plan(target) => {
            let report = sweep(&guard, target, true).await?;
            finish_bar(&bar);
            print(&report, global.output)?;
            if report.vpcs.iter().all(|v| matches!(v.outcome, Outcome::Compliant | Outcome::Skipped)) {
                0
            } else {
                2
            }
        }
        Command::Apply { target, yes } => {
            if config.dry_run {
                let report = sweep(&guard, target, true).await?;
                print(&report, global.output)?;
                return Ok(if report.count(Outcome::WouldChange) > 0 { 2 } else { 0 });
            }
            if !yes && !confirm(&guard, target, global.output).await? {
                eprintln!("vpce-guard: apply cancelled; nothing was changed");
                return Ok(1);
            }
            let report = sweep(&guard, target, false).await?;
            finish_bar(&bar);
            print(&report, global.output)?;
            if report.count(Outcome::NonCompliant) > 0 {
                3
            } else {
                0
            }
        }
        Command::IamPolicy { style: PolicyStyle::Guardrail, vpc_ids, .. } => {
            if !vpc_ids.is_empty() {
                bail!(
                    "--vpc-id selects endpoints for --style allow; the guardrail covers every endpoint of the account"
                );
            }
            let identity = guard.identity().await.context("reading the account's identity")?;
            let (policy, scope, ids) =
                guardrail_document(guard.account(), &identity).await.context("reading the endpoints")?;
            if scope == GuardrailScope::AnyEndpoint {
                eprintln!(
                    "warning: {} endpoint id(s) do not fit IAM's 6,144-character limit (or there are none): the policy denies notebooks opened through no VPC endpoint",
                    ids.len()
                );
            }
            println!("{}", serde_json::to_string_pretty(&policy)?);
            0
        }
        Command::IamPolicy { style: PolicyStyle::Allow, vpc_ids, condition } => {
            let policy = iam_policy(&guard, vpc_ids, *condition).await?;
            println!("{}", serde_json::to_string_pretty(&policy)?);
            0
        }
    };
    Ok(code)
}

fn check_ids(ids: &[String]) -> Result<()> {
    if let Some(bad) = ids.iter().find(|id| !is_resource_id(id, "vpc-")) {
        bail!("--vpc-id {bad:?} is not a VPC id (vpc- followed by 8 or 17 hex digits)");
    }
    Ok(())
}

/// Plans (`dry_run`) or applies for the target VPCs.
async fn sweep(guard: &Guard<SdkAccount>, target: &Target, dry_run: bool) -> Result<Report> {
    check_ids(&target.vpc_ids)?;
    let vpc_ids = (!target.vpc_ids.is_empty()).then(|| target.vpc_ids.clone());
    let options = RunOptions { dry_run: Some(dry_run), trigger_name: Some("Cli"), ..RunOptions::default() };
    Ok(guard.run_with(Parsed::Run(Trigger::Manual { vpc_ids, dry_run: None }), &options).await?)
}

/// Shows the plan and asks; refuses when stdin is not a terminal.
async fn confirm(guard: &Guard<SdkAccount>, target: &Target, format: Output) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to apply without confirmation: stdin is not a terminal; pass --yes");
    }
    let plan = sweep(guard, target, true).await?;
    print(&plan, format)?;
    let changes: usize = plan.vpcs.iter().map(|v| v.actions.len()).sum();
    if changes == 0 {
        return Ok(true);
    }
    eprint!("Apply these {changes} change(s)? Only 'yes' is accepted: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

fn print(report: &Report, format: Output) -> Result<()> {
    match format {
        Output::Json => println!("{}", serde_json::to_string_pretty(report)?),
        Output::Text => print!("{}", output::text(report)),
    }
    Ok(())
}

/// The SageMaker guide's IAM policy for the selected VPCs' endpoints.
async fn iam_policy(guard: &Guard<SdkAccount>, vpc_ids: &[String], condition: Condition) -> Result<serde_json::Value> {
    check_ids(vpc_ids)?;
    let selector = if vpc_ids.is_empty() { VpcSelector::All } else { VpcSelector::Ids(vpc_ids.to_vec()) };
    let region = guard.account().region().to_string();
    let services = [api_service(&region), notebook_service(&region)];
    // The endpoints are all the policy needs: one paginated DescribeVpcEndpoints.
    let endpoints = guard.account().describe_endpoints(&selector, &services).await.context("reading the endpoints")?;
    let live: Vec<_> = endpoints.into_iter().filter(|e| e.state.is_live()).collect();
    let endpoint_ids: Vec<String> = live.iter().map(|e| e.id.clone()).collect();
    let vpcs: Vec<String> = live.into_iter().map(|e| e.vpc_id).collect();
    if endpoint_ids.is_empty() {
        bail!("no SageMaker interface endpoint found in {}; run `vpce-guard apply` first", describe(&selector));
    }
    Ok(notebook_access_policy(&match condition {
        Condition::SourceVpce => AccessCondition::SourceVpce(endpoint_ids),
        Condition::SourceVpc => AccessCondition::SourceVpc(vpcs),
    }))
}

fn describe(selector: &VpcSelector) -> String {
    match selector {
        VpcSelector::All => "any VPC of the region".into(),
        VpcSelector::Ids(ids) => ids.join(", "),
    }
}

fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} VPCs {wide_bar} {elapsed}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

fn finish_bar(bar: &Option<indicatif::ProgressBar>) {
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
