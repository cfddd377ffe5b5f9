//! `vpce-guard`: the command-line door to the same reconciler the Lambda functions run.
//! `plan` shows what is out of line (exit 2) and can save it (`--out FILE`, [`planfile`]),
//! `apply` fixes it (exit 3 when problems remain) writing only what was approved — the plan
//! shown and answered "yes", or a saved plan — through the library's approval gate
//! (`vpce_guard::approval`), `iam-policy` prints the IAM policy that ties notebook access to
//! the endpoints. With `--regions`, `--all-regions` or `--org-role` a command covers many
//! accounts and regions, one unit each ([`units`] finds them, [`multi`] runs them).

mod args;
mod multi;
mod output;
mod planfile;
mod units;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use aws_config::Region;
use clap::Parser;
use vpce_guard::account::{Account, VpcSelector};
use vpce_guard::approval::{Approval, Approver, Difference, Verdict};
use vpce_guard::aws::{sdk_loader, SdkAccount};
use vpce_guard::config::Config;
use vpce_guard::events::{is_resource_id, Parsed, Trigger};
use vpce_guard::guardrail::{access_sources, allow_document, guardrail_document};
use vpce_guard::policy::{self, AccessKey, GuardrailScope};
use vpce_guard::report::{Outcome, Report};
use vpce_guard::{Error, Guard, RunOptions};

use args::{flag_of, Cli, Command, Condition, Global, Output, PolicyStyle, Target};
use planfile::PlanFile;

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors exit 1 like every other error: 2 means "something would change".
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(usage) => {
            let _ = usage.print();
            return ExitCode::from(if usage.use_stderr() { 1 } else { 0 });
        }
    };
    init_logging();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("vpce-guard: {}", one_line(&error));
            ExitCode::from(1)
        }
    }
}

/// The error as one sentence that says what to do; the SDK's detail goes to the debug log.
fn one_line(error: &anyhow::Error) -> String {
    match error.downcast_ref::<Error>() {
        Some(Error::BadEvent(message)) => message.clone(),
        Some(Error::Config { variable, value, expected }) if variable.starts_with("VPCE_GUARD_") => {
            format!("{} (or {variable}) {value:?} is not valid; {expected}", flag_of(variable))
        }
        Some(Error::Aws { operation, code, message, .. }) if code == "Unreachable" => {
            tracing::debug!(operation, detail = %message, "AWS unreachable");
            if message.contains("credential") {
                "no AWS credentials found: pass --profile NAME (or set AWS_PROFILE), set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role provides them; RUST_LOG=debug shows each source tried".into()
            } else {
                let cause = message.split(" (DispatchFailure").next().unwrap_or(message);
                format!("cannot reach AWS for {operation} ({cause}); check the network, the region and --endpoint-url; RUST_LOG=debug shows the detail")
            }
        }
        // Whether running again can help: `Transient.Aws` (throttled, a server fault) or
        // `Permanent.Aws`, the same classification as the functions' `errorType`.
        Some(aws @ Error::Aws { .. }) => format!("{error:#} ({})", aws.error_type()),
        _ => format!("{error:#}"),
    }
}

/// Warnings only, on stderr, unless RUST_LOG asks for more.
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_none() {
        // The credential chain's own warnings repeat what the one-line error says.
        std::env::set_var("RUST_LOG", "warn,aws_config=error");
    }
    vpce_guard::lambda::init_tracing();
}

async fn run(cli: Cli) -> Result<u8> {
    let global = &cli.global;
    let mut config = Config::from_lookup(|name| global.lookup(name))?;
    if global.units.is_multi() {
        return multi::run(&cli.command, global, config).await;
    }
    let saved = match &cli.command {
        Command::Apply { plan: Some(path), .. } => {
            let file = PlanFile::load(path)?;
            config = file.configuration(global, path)?;
            Some((file, path.as_path()))
        }
        _ => None,
    };
    let account = SdkAccount::new(&sdk_loader_for(global).load().await)?;
    let mut guard = Guard::new(account, config.clone());
    let bar = progress_bar("VPCs");
    if let Some(bar) = &bar {
        let bar = bar.clone();
        // One bar per sweep (apply may sweep up to three times), gone once the sweep is
        // done so that plans, reports and prompts print on a clean line.
        guard = guard.with_progress(Arc::new(move |done, total| {
            if bar.is_finished() {
                bar.reset();
            }
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            if done == total {
                bar.finish_and_clear();
            }
        }));
    }
    let code = match (&cli.command, saved) {
        (Command::Plan { target, out }, _) => {
            let (report, fingerprints) = recorded_plan(&guard, target).await?;
            finish_bar(&bar);
            print(&report, global.output)?;
            if let Some(path) = out {
                save_plan(&guard, report.clone(), &fingerprints, target, global, path).await?;
            }
            plan_code(&report)
        }
        (Command::Apply { .. }, Some((file, path))) => {
            let code = apply_saved(&guard, file, path, global.output).await?;
            finish_bar(&bar);
            code
        }
        (Command::Apply { target, yes, .. }, None) => {
            if config.dry_run {
                let report = sweep(&guard, target, true, None).await?;
                print(&report, global.output)?;
                return Ok(dry_run_code(&report));
            }
            let approver = match yes {
                true => None,
                false => match confirm(&guard, target, global.output).await? {
                    Some(approval) => Some(approval.into_approver()),
                    None => {
                        eprintln!("vpce-guard: apply cancelled; nothing was changed");
                        return Ok(1);
                    }
                },
            };
            let report = sweep(&guard, target, false, approver).await?;
            finish_bar(&bar);
            print(&report, global.output)?;
            apply_code(&report, "")
        }
        (Command::IamPolicy { style: PolicyStyle::Guardrail, vpc_ids, .. }, _) => {
            if !vpc_ids.is_empty() {
                bail!(
                    "--vpc-id selects endpoints for --style allow; the guardrail covers every endpoint of the account"
                );
            }
            let identity = guard.identity().await.context("reading the account's identity")?;
            let (policy, scope, ids) = guardrail_document(guard.account(), &identity, guard.config())
                .await
                .context("reading the endpoints")?;
            if scope == GuardrailScope::AnyEndpoint {
                eprintln!(
                    "warning: {} endpoint id(s) do not fit IAM's 6,144-character limit (or there are none): the policy denies notebooks opened through no VPC endpoint",
                    ids.len()
                );
            }
            println!("{}", serde_json::to_string_pretty(&policy)?);
            0
        }
        (Command::IamPolicy { style: PolicyStyle::Allow, vpc_ids, condition }, _) => {
            let policy = iam_policy(&guard, vpc_ids, *condition).await?;
            println!("{}", serde_json::to_string_pretty(&policy)?);
            0
        }
        (Command::IamPolicy { style: PolicyStyle::Scp, vpc_ids, condition }, _) => {
            // Minified: Organizations counts whitespace saved through the API or the CLI.
            println!("{}", scp(&guard, vpc_ids, *condition).await?);
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

/// Plans (`dry_run`) or applies for the target VPCs, each VPC's writes put to `approve`.
async fn sweep(guard: &Guard<SdkAccount>, target: &Target, dry_run: bool, approve: Option<Approver>) -> Result<Report> {
    check_ids(&target.vpc_ids)?;
    let vpc_ids = (!target.vpc_ids.is_empty()).then(|| target.vpc_ids.clone());
    // The CLI prunes idle VPCs (VPCE_GUARD_PRUNE_IDLE_AFTER) like the schedule: its plan shows the
    // deletions, its apply makes them once approved.
    let options =
        RunOptions { dry_run: Some(dry_run), trigger_name: Some("Cli"), approve, prune: true, ..RunOptions::default() };
    Ok(guard.run_with(Parsed::Run(Trigger::Manual { vpc_ids, dry_run: None }), &options).await?)
}

/// A dry run, with the fingerprint of what it saw of each VPC it planned.
async fn recorded_plan(guard: &Guard<SdkAccount>, target: &Target) -> Result<(Report, BTreeMap<String, String>)> {
    let seen: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let record: Approver = {
        let seen = seen.clone();
        Arc::new(move |proposal| {
            let mut seen = seen.lock().expect("fingerprints");
            seen.insert(proposal.vpc_id.to_string(), proposal.fingerprint.to_string());
            Verdict::Approved
        })
    };
    let report = sweep(guard, target, true, Some(record)).await?;
    let fingerprints = std::mem::take(&mut *seen.lock().expect("fingerprints"));
    Ok((report, fingerprints))
}

/// Saves the plan `report` for `apply FILE`.
async fn save_plan(
    guard: &Guard<SdkAccount>,
    report: Report,
    fingerprints: &BTreeMap<String, String>,
    target: &Target,
    global: &Global,
    path: &Path,
) -> Result<()> {
    let region = guard.account().region().to_string();
    let account_id = guard.identity().await.ok().map(|identity| identity.account_id);
    let vpc_ids = (!target.vpc_ids.is_empty()).then(|| target.vpc_ids.clone());
    PlanFile::new(report, fingerprints, region, account_id, vpc_ids, global).save(path)?;
    eprintln!("Saved the plan to {0}; apply exactly it with: vpce-guard apply {0}", path.display());
    Ok(())
}

/// `apply FILE`: plans again, refuses everything when any VPC departs from the saved plan,
/// else applies with each VPC's writes checked against the plan once more.
async fn apply_saved(guard: &Guard<SdkAccount>, file: PlanFile, path: &Path, format: Output) -> Result<u8> {
    let identity = guard.identity().await.context("reading the account's identity")?;
    file.check_account(guard.account().region(), &identity.account_id, path)?;
    let target = Target { vpc_ids: file.vpc_ids.clone().unwrap_or_default(), all: false };
    let approval = Approval::exact(file.vpcs);
    let (now, fingerprints) = recorded_plan(guard, &target).await?;
    let differences = approval.differences(&now, &fingerprints);
    if !differences.is_empty() {
        show_differences(&differences);
        bail!(
            "{} no longer matches the account for {}; nothing was applied; make a new plan (vpce-guard plan --out {})",
            path.display(),
            vpc_list(&differences),
            path.display()
        );
    }
    if guard.config().dry_run {
        print(&now, format)?;
        return Ok(dry_run_code(&now));
    }
    let report = sweep(guard, &target, false, Some(approval.into_approver())).await?;
    print(&report, format)?;
    Ok(apply_code(&report, ""))
}

/// The SDK configuration loader of `global`'s region, profile and endpoint URL.
fn sdk_loader_for(global: &Global) -> aws_config::ConfigLoader {
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
    loader
}

/// A plan's code: 0 when everything in scope is compliant (or skipped), else 2.
fn plan_code(report: &Report) -> u8 {
    if report.vpcs.iter().all(|v| matches!(v.outcome, Outcome::Compliant | Outcome::Skipped)) {
        0
    } else {
        2
    }
}

/// A dry-run apply's code: 2 when it would change something, else 0.
fn dry_run_code(report: &Report) -> u8 {
    if report.count(Outcome::WouldChange) > 0 {
        2
    } else {
        0
    }
}

/// 1 when a VPC's writes were refused (it moved while applying), 3 when problems remain, else 0.
/// `place` (e.g. `111111111111 us-east-1: `) starts the refusal's message.
fn apply_code(report: &Report, place: &str) -> u8 {
    let refused: Vec<&str> = report
        .vpcs
        .iter()
        .filter(|v| v.problems.iter().any(|p| p.code == vpce_guard::report::Code::NotApproved))
        .map(|v| v.vpc_id.as_str())
        .collect();
    if !refused.is_empty() {
        eprintln!(
            "vpce-guard: {place}{} changed while applying and got none of its writes (not_approved); plan and apply again",
            refused.join(", ")
        );
        1
    } else if report.count(Outcome::NonCompliant) > 0 {
        3
    } else {
        0
    }
}

fn show_differences(differences: &[Difference]) {
    eprintln!("The account changed since the plan was made:");
    for difference in differences {
        eprintln!("  {difference}");
    }
}

fn vpc_list(differences: &[Difference]) -> String {
    differences.iter().map(|d| d.vpc_id.as_str()).collect::<Vec<_>>().join(", ")
}

/// Shows the plan and asks; once approved, plans again and, when the new plan holds writes
/// that were not shown, shows the difference and the new plan and asks again. `None` when
/// cancelled; refuses when stdin is not a terminal.
async fn confirm(guard: &Guard<SdkAccount>, target: &Target, format: Output) -> Result<Option<Approval>> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to apply without confirmation: stdin is not a terminal; pass --yes");
    }
    let mut shown = sweep(guard, target, true, None).await?;
    print(&shown, format)?;
    loop {
        let changes: usize = shown.vpcs.iter().map(|v| v.actions.len()).sum();
        if changes > 0 && !ask(&format!("Apply these {changes} change(s)?"))? {
            return Ok(None);
        }
        let approval = Approval::at_most(&shown);
        let now = sweep(guard, target, true, None).await?;
        let differences = approval.differences(&now, &BTreeMap::new());
        if differences.is_empty() {
            return Ok(Some(approval));
        }
        show_differences(&differences);
        if !std::io::stdin().is_terminal() {
            bail!("the new plan holds writes that were not approved ({}); nothing was applied", vpc_list(&differences));
        }
        eprintln!("The new plan:");
        print(&now, format)?;
        shown = now;
    }
}

/// Asks `question` on the terminal; true only for "yes".
fn ask(question: &str) -> Result<bool> {
    eprint!("{question} Only 'yes' is accepted: ");
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

/// The VPCs `--vpc-id` names and the condition key of `--condition`.
fn access_target(vpc_ids: &[String], condition: Condition) -> Result<(VpcSelector, AccessKey)> {
    check_ids(vpc_ids)?;
    let selector = if vpc_ids.is_empty() { VpcSelector::All } else { VpcSelector::Ids(vpc_ids.to_vec()) };
    let key = match condition {
        Condition::SourceVpce => AccessKey::SourceVpce,
        Condition::SourceVpc => AccessKey::SourceVpc,
    };
    Ok((selector, key))
}

/// The service control policy for the selected VPCs' endpoints, minified; an error naming
/// Organizations' limit when it does not fit.
async fn scp(guard: &Guard<SdkAccount>, vpc_ids: &[String], condition: Condition) -> Result<String> {
    let (selector, key) = access_target(vpc_ids, condition)?;
    let identity = guard.identity().await.context("reading the account's identity")?;
    let sources =
        access_sources(guard.account(), &selector, key, guard.config()).await.context("reading the endpoints")?;
    if sources.all().is_empty() {
        bail!("no SageMaker interface endpoint found in {}; run `vpce-guard apply` first", describe(&selector));
    }
    Ok(policy::scp_policy(key, &sources, &identity)?.to_string())
}

/// The SageMaker guide's IAM policy for the selected VPCs' endpoints.
async fn iam_policy(guard: &Guard<SdkAccount>, vpc_ids: &[String], condition: Condition) -> Result<serde_json::Value> {
    let (selector, key) = access_target(vpc_ids, condition)?;
    // The endpoints are all the policy needs: one paginated DescribeVpcEndpoints.
    let policy =
        allow_document(guard.account(), &selector, key, guard.config()).await.context("reading the endpoints")?;
    match policy {
        Some(policy) => Ok(policy),
        None => bail!("no SageMaker interface endpoint found in {}; run `vpce-guard apply` first", describe(&selector)),
    }
}

fn describe(selector: &VpcSelector) -> String {
    match selector {
        VpcSelector::All => "any VPC of the region".into(),
        VpcSelector::Ids(ids) => ids.join(", "),
    }
}

/// A progress bar over `things` (VPCs, units) on a terminal; `None` elsewhere.
fn progress_bar(things: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let template = format!("{{spinner}} {{pos}}/{{len}} {things} {{wide_bar}} {{elapsed}}");
    let style =
        indicatif::ProgressStyle::with_template(&template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

fn finish_bar(bar: &Option<indicatif::ProgressBar>) {
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
