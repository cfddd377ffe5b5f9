//! Command-line arguments. Every configuration option is a flag that falls back to the
//! environment variable of the same meaning (flags override the environment).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};
use vpce_guard::config::{Setting, SETTINGS};

/// Keep SageMaker notebook instances reachable only over PrivateLink: show and fix the
/// interface endpoints of your VPCs.
#[derive(Debug, Parser)]
#[command(name = "vpce-guard", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Global options.
    #[command(flatten)]
    pub global: Global,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what would change; exit 0 when everything in scope is compliant, 2 when not.
    ///
    /// With --out FILE the plan is also saved, for `vpce-guard apply FILE`.
    Plan {
        /// Which VPCs.
        #[command(flatten)]
        target: Target,
        /// Save the plan (JSON) to FILE: its region, account, configuration and target, and per
        /// VPC the writes and a fingerprint of what the plan saw.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Make the changes; exit 0 when compliant afterwards, 3 when problems remain.
    ///
    /// Without FILE: shows the plan and asks for "yes", then plans again and writes only what
    /// was shown (fewer writes are fine). When the new plan holds a write that was not shown,
    /// nothing is written: the difference and the new plan are shown and asked about again.
    /// Each VPC is checked once more right before its writes: one that moved in that moment
    /// gets none (problem not_approved, exit 1). --yes applies whatever the new plan holds.
    ///
    /// With FILE (from `plan --out`): applies exactly that plan's writes, without asking, with
    /// the plan's configuration and VPCs. When the account no longer matches the plan for any
    /// VPC (other or fewer writes, or a changed VPC that has writes), nothing at all is applied
    /// (exit 1): make a new plan.
    /// Exit 1 also on error, a refusal or a cancelled prompt.
    Apply {
        /// Which VPCs.
        #[command(flatten)]
        target: Target,
        /// Apply without asking for confirmation (required when stdin is not a terminal; a saved
        /// plan needs none).
        #[arg(long, short = 'y')]
        yes: bool,
        /// A plan saved by `vpce-guard plan --out FILE`: apply exactly its writes.
        #[arg(value_name = "FILE", conflicts_with_all = ["vpc_ids", "all"])]
        plan: Option<PathBuf>,
    },
    /// Print the IAM policy that lets notebooks be opened only through the VPCs' endpoints.
    ///
    /// --style scp prints a service control policy instead, minified, for AWS Organizations
    /// (at most 5,120 characters, whitespace included; exit 1 naming the size when the ids do
    /// not fit). An SCP applies to every principal of the member accounts it is attached to,
    /// but not to the management account nor to service-linked roles.
    IamPolicy {
        /// `guardrail`: the deny policy VPCE_GUARD_IAM_GUARDRAIL keeps in sync (every endpoint
        /// of the account); `allow`: the SageMaker guide's allow-style example; `scp`: the
        /// Organization-wide deny, as a service control policy.
        #[arg(long, value_enum, default_value_t = PolicyStyle::Guardrail)]
        style: PolicyStyle,
        /// VPCs whose endpoints the allow-style policy or the SCP names (default: every VPC with SageMaker endpoints).
        #[arg(long = "vpc-id", value_name = "ID")]
        vpc_ids: Vec<String>,
        /// The allow-style or SCP condition key: endpoint ids (`aws:SourceVpce`) or VPC ids (`aws:SourceVpc`).
        #[arg(long, value_enum, default_value_t = Condition::SourceVpce)]
        condition: Condition,
    },
}

/// Which VPCs a plan or apply covers.
#[derive(Debug, Args)]
pub struct Target {
    /// A VPC to look at (repeatable). Without it, every VPC in scope.
    #[arg(long = "vpc-id", value_name = "ID", conflicts_with = "all")]
    pub vpc_ids: Vec<String>,
    /// Every VPC in scope (the default when no --vpc-id is given).
    #[arg(long)]
    pub all: bool,
}

/// The kinds of policy `iam-policy` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyStyle {
    /// Deny `CreatePresignedNotebookInstanceUrl` unless through this account's endpoints.
    Guardrail,
    /// Allow opening notebooks only through the endpoints (attach instead of broader grants).
    Allow,
    /// A service control policy denying presigned notebook and Studio URLs in this region not
    /// made through the endpoints (or VPCs), for every member account it is attached to; not
    /// the management account, not service-linked roles.
    Scp,
}

/// IAM condition keys for `iam-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Condition {
    /// `aws:SourceVpce` with the api and notebook endpoint ids (api and Studio for Studio).
    SourceVpce,
    /// `aws:SourceVpc` with the VPC ids.
    SourceVpc,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table per VPC and the planned actions.
    Text,
    /// The report of the JSON contract (README.md, "Output").
    Json,
}

/// Options shared by every subcommand.
#[derive(Debug, Args)]
pub struct Global {
    /// AWS region (default: the standard chain, e.g. AWS_REGION or the profile's).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Endpoint URL for every AWS service (e.g. a local emulator).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Every setting of the library's settings table, as a flag that falls back to its variable.
    #[command(flatten)]
    pub settings: SettingFlags,
    /// Which accounts and regions (several make a multi-unit run).
    #[command(flatten)]
    pub units: UnitFlags,
}

/// Many accounts and regions: any of these flags makes a run of one unit per account and
/// region, with a summary (README.md, "Many accounts and regions (CLI)").
#[derive(Debug, Args)]
pub struct UnitFlags {
    /// Regions to cover, comma-separated (--region stays the region of STS and Organizations).
    #[arg(long, global = true, value_name = "LIST", value_delimiter = ',', value_parser = region_name, conflicts_with = "all_regions")]
    pub regions: Vec<String>,
    /// Every region enabled in each account (EC2 DescribeRegions, in that account).
    #[arg(long, global = true)]
    pub all_regions: bool,
    /// Assume role NAME in every ACTIVE account of the Organization (organizations:ListAccounts),
    /// or in those of --accounts.
    #[arg(long, global = true, value_name = "NAME", value_parser = role_name)]
    pub org_role: Option<String>,
    /// Only these accounts (12-digit ids, comma-separated); needs --org-role.
    #[arg(long, global = true, value_name = "LIST", value_delimiter = ',', value_parser = account_id, requires = "org_role")]
    pub accounts: Vec<String>,
    /// Units (account × region) worked on at the same time, at least 1.
    #[arg(long, global = true, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
}

impl UnitFlags {
    /// True when the run covers units rather than the profile's one account and region.
    pub fn is_multi(&self) -> bool {
        !self.regions.is_empty() || self.all_regions || self.org_role.is_some()
    }
}

fn region_name(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.split('-').count() >= 3
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not a region name (like us-east-1)"))
    }
}

fn account_id(text: &str) -> Result<String, String> {
    if text.len() == 12 && text.chars().all(|c| c.is_ascii_digit()) {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not an AWS account id (12 digits)"))
    }
}

/// IAM role names: 1-64 of letters, digits and `+=,.@_-` (a path before the name with `/`).
fn role_name(text: &str) -> Result<String, String> {
    let name = text.rsplit('/').next().unwrap_or_default();
    let valid = (1..=64).contains(&name.len())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
        && !text.starts_with('/');
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not an IAM role name (letters, digits and +=,.@_-, at most 64)"))
    }
}

/// The flags of the library's settings table ([`SETTINGS`]): one per setting, named after its
/// `flag`, reading its environment variable when not given, with the table's help. Nothing here
/// names a setting, so a setting added to the table is a flag at once.
#[derive(Debug, Default, Clone)]
pub struct SettingFlags {
    values: BTreeMap<&'static str, String>,
}

impl SettingFlags {
    fn arg(setting: &'static Setting) -> Arg {
        let arg = Arg::new(setting.variable)
            .long(setting.flag)
            .env(setting.variable)
            .value_name(setting.value_name)
            .help(setting.help)
            .global(true)
            .action(ArgAction::Set);
        match setting.flag_alone {
            Some(value) => arg.num_args(0..=1).require_equals(true).default_missing_value(value),
            None => arg,
        }
    }
}

impl FromArgMatches for SettingFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for setting in SETTINGS {
            if let Some(value) = matches.get_one::<String>(setting.variable) {
                self.values.insert(setting.variable, value.clone());
            }
        }
        Ok(())
    }
}

impl Args for SettingFlags {
    fn augment_args(command: clap::Command) -> clap::Command {
        SETTINGS.iter().fold(command, |command, setting| command.arg(Self::arg(setting)))
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

/// The configuration variables a plan depends on, as a saved plan records them: the settings
/// marked `in_plan` (all but `VPCE_GUARD_DRY_RUN`).
pub fn plan_variables() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().filter(|s| s.in_plan).map(|s| s.variable)
}

/// The flag of configuration variable `variable`: `VPCE_GUARD_SCOPE` → `--scope`.
pub fn flag_of(variable: &str) -> String {
    match Setting::of(variable) {
        Some(setting) => format!("--{}", setting.flag),
        None => format!("--{}", variable.trim_start_matches("VPCE_GUARD_").to_ascii_lowercase().replace('_', "-")),
    }
}

impl Global {
    /// The value of configuration variable `name`, from its flag (or the environment).
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.settings.values.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("vpce-guard").chain(args.iter().copied()))
    }

    #[test]
    fn unit_flags_parse_and_default_to_one_unit() {
        let plain = parse(&["plan"]).unwrap();
        assert!(!plain.global.units.is_multi());
        assert_eq!(plain.global.units.concurrency, 4);
        let units = parse(&["plan", "--regions", "us-east-1,eu-west-1", "--org-role", "ops/VpceGuard"]).unwrap();
        assert_eq!(units.global.units.regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(units.global.units.org_role.as_deref(), Some("ops/VpceGuard"));
        let accounts =
            parse(&["--org-role", "R", "--accounts", "111111111111,222222222222", "--concurrency", "1", "plan"]);
        let accounts = accounts.unwrap().global.units;
        assert!(accounts.is_multi() && accounts.accounts.len() == 2 && accounts.concurrency == 1);
        assert!(parse(&["apply", "--all-regions", "--yes"]).unwrap().global.units.is_multi());
    }

    #[test]
    fn every_setting_of_the_table_is_a_flag_that_reaches_the_lookup() {
        for setting in SETTINGS {
            let value = setting.flag_alone.map_or("x".to_string(), |_| "false".to_string());
            let flag = format!("--{}={value}", setting.flag);
            let cli = parse(&["plan", &flag]).unwrap_or_else(|e| panic!("{flag}: {e}"));
            assert_eq!(cli.global.lookup(setting.variable).as_deref(), Some(value.as_str()), "{flag}");
        }
        let alone = parse(&["--dry-run", "apply", "--yes"]).unwrap();
        assert_eq!(alone.global.lookup("VPCE_GUARD_DRY_RUN").as_deref(), Some("true"));
        assert!(matches!(alone.command, Command::Apply { .. }), "`apply` is the command, not the value");
        assert_eq!(
            plan_variables().count(),
            SETTINGS.len() - 2,
            "all but the dry run and the endpoint price (no write depends on them)"
        );
    }

    #[test]
    fn bad_unit_flags_are_usage_errors() {
        for args in [
            &["plan", "--concurrency", "0"][..],
            &["plan", "--concurrency", "-1"],
            &["plan", "--accounts", "111111111111"],
            &["plan", "--org-role", "R", "--accounts", "11111111111"],
            &["plan", "--org-role", "R", "--accounts", "11111111111a"],
            &["plan", "--regions", "us-east-1", "--all-regions"],
            &["plan", "--regions", "US-EAST-1"],
            &["plan", "--regions", "useast1"],
            &["plan", "--org-role", "has space"],
            &["plan", "--org-role", "/leading-slash"],
            &["plan", "--org-role", "arn:aws:iam::111111111111:role/R"],
        ] {
            let error = parse(args).expect_err("a usage error");
            assert!(error.use_stderr(), "{args:?}: exit 1, not the help");
        }
    }
}
