//! Multi-unit runs (`--regions`, `--all-regions`, `--org-role`): one Guard per unit (account ×
//! region, [`units`](crate::units)), at most `--concurrency` at a time. A unit that fails is an
//! error row and never stops the others. `apply` shows the plan of every unit and asks once
//! for their union (or takes `--yes`); each unit then writes at most what it was shown, through
//! the library's approval gate. The exit code is the most severe over the units: 1 (a unit
//! failed, or writes were refused), then 3 (problems remain), then 2 (changes needed or
//! planned), then 0.

use std::io::IsTerminal;

use anyhow::{bail, Result};
use aws_config::SdkConfig;
use vpce_guard::approval::{Approval, Approver};
use vpce_guard::aws::SdkAccount;
use vpce_guard::config::Config;
use vpce_guard::report::Report;
use vpce_guard::Guard;

use crate::args::{Command, Global, Target};
use crate::output::{self, UnitRun};
use crate::units::{self, bounded, Unit};

/// Runs `command` over the units of `global`'s flags.
pub async fn run(command: &Command, global: &Global, config: Config) -> Result<u8> {
    refuse_single_unit_options(command)?;
    let apply_yes = match command {
        Command::Apply { yes, .. } => Some(*yes),
        _ => None,
    };
    if apply_yes == Some(false) && !config.dry_run && !std::io::stdin().is_terminal() {
        bail!("refusing to apply without confirmation: stdin is not a terminal; pass --yes");
    }
    let limit = usize::from(global.units.concurrency);
    let base = crate::sdk_loader_for(global).load().await;
    let all = units::discover(&base, &global.units, limit).await?;
    let dry_run = apply_yes.is_none() || config.dry_run;
    let mode = match apply_yes {
        None => Mode::Plan,
        Some(_) if dry_run => Mode::DryApply,
        Some(_) => Mode::Apply,
    };
    let approvers = match apply_yes {
        Some(false) if !dry_run => match confirm(&all, &config, limit, global).await? {
            Some(approved) => approved,
            None => {
                eprintln!("vpce-guard: apply cancelled; nothing was changed");
                return Ok(1);
            }
        },
        _ => all.iter().map(|unit| (unit.clone(), None)).collect(),
    };
    let runs = run_units(approvers, &config, limit, dry_run).await;
    output::print_units(&runs, dry_run, global.output)?;
    Ok(exit_code(&runs, mode))
}

/// Options that name one account and region's things, refused with the unit flags.
fn refuse_single_unit_options(command: &Command) -> Result<()> {
    const FLAGS: &str = "--regions, --all-regions and --org-role";
    match command {
        Command::Plan { out: Some(_), .. } => {
            bail!("plan --out saves the plan of one account and region; drop {FLAGS}, or --out")
        }
        Command::Apply { plan: Some(_), .. } => {
            bail!("apply FILE applies a plan of one account and region; drop {FLAGS}")
        }
        Command::Plan { target, .. } | Command::Apply { target, .. } if !target.vpc_ids.is_empty() => {
            bail!("--vpc-id names a VPC of one account and region; drop {FLAGS}, or --vpc-id")
        }
        Command::IamPolicy { .. } => bail!("iam-policy prints the policy of one account and region; drop {FLAGS}"),
        _ => Ok(()),
    }
}

/// Plans every unit, shows the plans and asks once for all their changes. `None` when
/// cancelled; else each unit with the approver of what it was shown (units whose plan failed
/// keep that error and are not applied).
async fn confirm(
    all: &[Unit],
    config: &Config,
    limit: usize,
    global: &Global,
) -> Result<Option<Vec<(Unit, Option<Approver>)>>> {
    let shown = run_units(all.iter().map(|unit| (unit.clone(), None)).collect(), config, limit, true).await;
    output::print_units(&shown, true, global.output)?;
    let planned = shown.iter().filter_map(|run| run.result.as_ref().ok());
    let changes: usize = planned.flat_map(|report| &report.vpcs).map(|vpc| vpc.actions.len()).sum();
    let changing = shown.iter().filter(|run| run.result.as_ref().is_ok_and(has_actions)).count();
    if changes > 0 && !crate::ask(&format!("Apply these {changes} change(s) in {changing} account/region unit(s)?"))? {
        return Ok(None);
    }
    let approved = all
        .iter()
        .zip(&shown)
        .map(|(unit, run)| match &run.result {
            Ok(report) => (unit.clone(), Some(Approval::at_most(report).into_approver())),
            Err(reason) => (Unit { config: Err(reason.clone()), ..unit.clone() }, None),
        })
        .collect();
    Ok(Some(approved))
}

fn has_actions(report: &Report) -> bool {
    report.vpcs.iter().any(|vpc| !vpc.actions.is_empty())
}

/// Plans (`dry_run`) or applies every unit, each with its approver, at most `limit` at a
/// time, with a progress bar over units on a terminal.
async fn run_units(units: Vec<(Unit, Option<Approver>)>, config: &Config, limit: usize, dry_run: bool) -> Vec<UnitRun> {
    let bar = crate::progress_bar("units");
    if let Some(bar) = &bar {
        bar.set_length(units.len() as u64);
    }
    let runs = bounded(units, limit, |(unit, approver)| {
        let (config, bar) = (config.clone(), bar.clone());
        async move {
            let result = match &unit.config {
                Ok(sdk) => run_unit(sdk, config, dry_run, approver).await.map_err(|e| crate::one_line(&e)),
                Err(reason) => Err(reason.clone()),
            };
            if let Some(bar) = &bar {
                bar.inc(1);
            }
            UnitRun { account: unit.account, region: unit.region, result }
        }
    })
    .await;
    crate::finish_bar(&bar);
    runs
}

async fn run_unit(sdk: &SdkConfig, config: Config, dry_run: bool, approver: Option<Approver>) -> Result<Report> {
    let guard = Guard::new(SdkAccount::new(sdk)?, config);
    let every_vpc = Target { vpc_ids: Vec::new(), all: true };
    crate::sweep(&guard, &every_vpc, dry_run, approver).await
}

/// What the units did, for their exit codes.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Plan,
    DryApply,
    Apply,
}

/// The most severe code over the units: 1 for a failed unit (or writes refused), then 3, 2, 0.
fn exit_code(runs: &[UnitRun], mode: Mode) -> u8 {
    let severity = |code: u8| [0, 2, 3, 1].iter().position(|c| *c == code).unwrap_or(3);
    let codes = runs.iter().map(|run| match (&run.result, mode) {
        (Err(_), _) => 1,
        (Ok(report), Mode::Plan) => crate::plan_code(report),
        (Ok(report), Mode::DryApply) => crate::dry_run_code(report),
        (Ok(report), Mode::Apply) => crate::apply_code(report, &format!("{} {}: ", run.account, run.region)),
    });
    codes.max_by_key(|code| severity(*code)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use vpce_guard::report::{Outcome, Problem, VpcReport};

    use super::*;

    /// A unit whose report holds one VPC per outcome (`None`: the unit failed).
    fn unit(outcomes: Option<&[Outcome]>) -> UnitRun {
        let result = outcomes.map(|outcomes| {
            let mut report = Report::new("Cli", false);
            for (n, outcome) in outcomes.iter().enumerate() {
                let mut vpc = VpcReport::skipped(&format!("vpc-{n:08}"), "test");
                vpc.outcome = *outcome;
                report.vpcs.push(vpc);
            }
            report
        });
        UnitRun { account: "111111111111".into(), region: "us-east-1".into(), result: result.ok_or("refused".into()) }
    }

    #[test]
    fn exit_code_is_the_most_severe_over_the_units() {
        use Outcome::*;
        let refused = {
            let mut run = unit(Some(&[Changed]));
            let report = run.result.as_mut().unwrap();
            report.vpcs[0].problems.push(Problem::error(vpce_guard::report::Code::NotApproved, "moved"));
            report.vpcs[0].outcome = NonCompliant;
            run
        };
        let cases: Vec<(Mode, Vec<UnitRun>, u8)> = vec![
            (Mode::Plan, vec![], 0),
            (Mode::Plan, vec![unit(Some(&[Compliant, Skipped])), unit(Some(&[]))], 0),
            (Mode::Plan, vec![unit(Some(&[Compliant])), unit(Some(&[WouldChange]))], 2),
            (Mode::Plan, vec![unit(Some(&[Pending]))], 2),
            (Mode::Plan, vec![unit(Some(&[WouldChange])), unit(None)], 1),
            (Mode::DryApply, vec![unit(Some(&[WouldChange])), unit(Some(&[Compliant]))], 2),
            (Mode::DryApply, vec![unit(Some(&[Pending]))], 0),
            (Mode::Apply, vec![unit(Some(&[Changed])), unit(Some(&[Compliant]))], 0),
            (Mode::Apply, vec![unit(Some(&[Changed])), unit(Some(&[NonCompliant]))], 3),
            (Mode::Apply, vec![unit(Some(&[NonCompliant])), unit(None)], 1),
            (Mode::Apply, vec![unit(Some(&[NonCompliant])), refused], 1),
        ];
        for (mode, runs, expected) in cases {
            assert_eq!(exit_code(&runs, mode), expected, "{mode:?} {runs:?}");
        }
    }

    #[test]
    fn single_unit_options_are_refused_with_the_unit_flags() {
        use clap::Parser;
        let command = |args: &[&str]| crate::args::Cli::try_parse_from(args).expect("parses").command;
        let refused = [
            (vec!["vpce-guard", "--regions", "us-east-1", "plan", "--out", "p.json"], "plan --out"),
            (vec!["vpce-guard", "--all-regions", "apply", "p.json"], "apply FILE"),
            (vec!["vpce-guard", "--org-role", "R", "plan", "--vpc-id", "vpc-12345678"], "--vpc-id"),
            (vec!["vpce-guard", "--regions", "us-east-1", "iam-policy"], "iam-policy"),
        ];
        for (args, expected) in refused {
            let error = refuse_single_unit_options(&command(&args)).expect_err("refused");
            assert!(error.to_string().contains(expected), "{args:?}: {error}");
        }
        for args in [vec!["vpce-guard", "plan"], vec!["vpce-guard", "apply", "--yes", "--all"]] {
            assert!(refuse_single_unit_options(&command(&args)).is_ok(), "{args:?}");
        }
    }
}
