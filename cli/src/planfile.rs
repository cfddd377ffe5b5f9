//! Saved plans: `plan --out FILE` writes one, `apply FILE` applies exactly its writes (like
//! `terraform plan -out` / `terraform apply planfile`). The file is the approval, so it holds
//! everything that decides the writes: region, account, configuration, the VPCs asked for,
//! and per VPC the actions and a fingerprint of what the plan saw (plus the plan's report).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use vpce_guard::approval::ApprovedVpc;
use vpce_guard::config::Config;
use vpce_guard::report::Report;

use crate::args::{flag_of, plan_variables, Global};

/// The plan file format this version writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// What `plan --out` saves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFile {
    /// [`FORMAT_VERSION`] when written.
    pub format_version: u64,
    /// The vpce-guard that made it (for people; not checked).
    pub vpce_guard_version: String,
    /// When it was made, in seconds since the Unix epoch.
    pub created_at_unix: u64,
    /// The region planned.
    pub region: String,
    /// The account planned, when its identity was read.
    pub account_id: Option<String>,
    /// The VPCs asked for (`--vpc-id`); `None` for every VPC in scope.
    pub vpc_ids: Option<Vec<String>>,
    /// The configuration variables that were set (flag or environment), dry run aside.
    pub config: BTreeMap<String, String>,
    /// Per VPC: the planned actions and the fingerprint of what the plan saw.
    pub vpcs: Vec<ApprovedVpc>,
    /// The plan's report (a dry run), for people and tools.
    pub report: Report,
}

impl PlanFile {
    /// A plan of `report` (a dry run) with the `fingerprints` its approver was shown.
    pub fn new(
        report: Report,
        fingerprints: &BTreeMap<String, String>,
        region: String,
        account_id: Option<String>,
        vpc_ids: Option<Vec<String>>,
        global: &Global,
    ) -> Self {
        let vpcs = report
            .vpcs
            .iter()
            .map(|vpc| ApprovedVpc {
                vpc_id: vpc.vpc_id.clone(),
                fingerprint: fingerprints.get(&vpc.vpc_id).cloned(),
                actions: vpc.actions.clone(),
            })
            .collect();
        let config = plan_variables()
            .filter_map(|name| global.lookup(name).filter(|v| !v.trim().is_empty()).map(|v| (name.to_string(), v)))
            .collect();
        let created_at_unix =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self {
            format_version: FORMAT_VERSION,
            vpce_guard_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at_unix,
            region,
            account_id,
            vpc_ids,
            config,
            vpcs,
            report,
        }
    }

    /// Writes the plan to `path` (through a temporary file, so a failed write leaves no half plan).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        std::fs::write(&partial, text + "\n").with_context(|| format!("writing the plan to {}", path.display()))?;
        std::fs::rename(&partial, path).with_context(|| format!("writing the plan to {}", path.display()))
    }

    /// Reads a plan saved by `plan --out`, refusing anything else with a sentence that says what.
    pub fn load(path: &Path) -> Result<Self> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the plan file {shown}"))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{shown} is not a vpce-guard plan (not JSON: {e}); make one with `vpce-guard plan --out {shown}`"
            )
        })?;
        match value.get("format_version").and_then(serde_json::Value::as_u64) {
            Some(FORMAT_VERSION) => {}
            Some(other) => bail!(
                "{shown} is a plan of format {other}; this vpce-guard ({}) reads format {FORMAT_VERSION}: make the plan again with this version",
                env!("CARGO_PKG_VERSION")
            ),
            None => bail!("{shown} is not a vpce-guard plan (no format_version); make one with `vpce-guard plan --out {shown}`"),
        }
        serde_json::from_value(value).map_err(|e| {
            anyhow::anyhow!(
                "{shown} is not a valid vpce-guard plan ({e}); make the plan again with `vpce-guard plan --out`"
            )
        })
    }

    /// The plan's configuration, for the apply (with this run's dry run). A variable this run
    /// sets (flag or environment) to another value than the plan's is refused: the plan was
    /// approved with its own, as terraform refuses variables with a saved plan.
    pub fn configuration(&self, global: &Global, path: &Path) -> Result<Config> {
        let planned = |name: &str| match name {
            "VPCE_GUARD_DRY_RUN" => global.lookup(name),
            _ => self.config.get(name).cloned(),
        };
        let config = Config::from_lookup(planned)
            .with_context(|| format!("{} holds a configuration this vpce-guard refuses", path.display()))?;
        let mut differing = Vec::new();
        for variable in plan_variables() {
            let Some(value) = global.lookup(variable).filter(|v| !v.trim().is_empty()) else { continue };
            let overridden =
                Config::from_lookup(|name| if name == variable { Some(value.clone()) } else { planned(name) })?;
            if overridden != config {
                let was = self.config.get(variable).map_or_else(|| "unset (the default)".into(), |v| format!("{v:?}"));
                differing.push(format!("{} ({variable}) is {value:?} here but {was} in the plan", flag_of(variable)));
            }
        }
        if !differing.is_empty() {
            bail!(
                "{}; `apply FILE` uses the plan's configuration: drop these settings, or make a new plan with them",
                differing.join("; ")
            );
        }
        Ok(config)
    }

    /// Refuses a plan of another region or account.
    pub fn check_account(&self, region: &str, account_id: &str, path: &Path) -> Result<()> {
        if self.region != region {
            bail!(
                "{} is a plan for region {}, and this run is for {region}; pass --region {}",
                path.display(),
                self.region,
                self.region
            );
        }
        if let Some(planned) = self.account_id.as_deref().filter(|planned| *planned != account_id) {
            bail!(
                "{} is a plan for account {planned}, and these credentials are for {account_id}; use that account's profile",
                path.display()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn global(args: &[&str]) -> Global {
        let mut argv = vec!["vpce-guard"];
        argv.extend_from_slice(args);
        argv.push("plan");
        crate::args::Cli::parse_from(argv).global
    }

    fn plan(config: &[(&str, &str)]) -> PlanFile {
        let mut file = PlanFile::new(
            Report::new("Cli", true),
            &BTreeMap::new(),
            "us-west-2".into(),
            Some("123456789012".into()),
            None,
            &global(&[]),
        );
        file.config = config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        file
    }

    #[test]
    fn the_plan_configuration_applies_and_differing_settings_are_refused() {
        let path = Path::new("plan.json");
        let file = plan(&[("VPCE_GUARD_SCOPE", "all")]);
        let config = file.configuration(&global(&[]), path).unwrap();
        assert_eq!(config.scope, vpce_guard::config::Scope::All, "unset here: the plan's value");
        assert!(file.configuration(&global(&["--scope", "all"]), path).is_ok(), "the same value is fine");
        let error = file.configuration(&global(&["--scope", "enrolled"]), path).unwrap_err().to_string();
        assert!(error.contains("--scope (VPCE_GUARD_SCOPE) is \"enrolled\" here but \"all\" in the plan"), "{error}");
        let error = plan(&[]).configuration(&global(&["--fix-vpc-dns", "false"]), path).unwrap_err().to_string();
        assert!(error.contains("unset (the default) in the plan"), "{error}");
        assert!(plan(&[]).configuration(&global(&["--dry-run=true"]), path).unwrap().dry_run, "dry run is this run's");
    }

    #[test]
    fn another_region_or_account_is_refused() {
        let file = plan(&[]);
        let path = Path::new("plan.json");
        assert!(file.check_account("us-west-2", "123456789012", path).is_ok());
        let region = file.check_account("eu-west-1", "123456789012", path).unwrap_err().to_string();
        assert!(region.contains("pass --region us-west-2"), "{region}");
        let account = file.check_account("us-west-2", "210987654321", path).unwrap_err().to_string();
        assert!(account.contains("plan for account 123456789012"), "{account}");
    }

    #[test]
    fn files_that_are_no_plan_are_refused_clearly() {
        let dir = std::env::temp_dir().join(format!("vpce-guard-planfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plan.json");
        plan(&[("VPCE_GUARD_SCOPE", "all")]).save(&path).unwrap();
        assert_eq!(PlanFile::load(&path).unwrap(), plan(&[("VPCE_GUARD_SCOPE", "all")]).with_time_of(&path));
        for (text, expected) in [
            ("{not json", "not JSON"),
            ("{\"format_version\": 2}", "a plan of format 2"),
            ("[]", "no format_version"),
            ("{\"format_version\": 1, \"region\": 3}", "not a valid vpce-guard plan"),
        ] {
            std::fs::write(&path, text).unwrap();
            let error = PlanFile::load(&path).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
        let error = PlanFile::load(&dir.join("absent.json")).unwrap_err().to_string();
        assert!(error.contains("cannot read the plan file"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    impl PlanFile {
        /// This plan with the creation time of the one saved at `path`.
        fn with_time_of(mut self, path: &Path) -> Self {
            let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            self.created_at_unix = saved["created_at_unix"].as_u64().unwrap();
            self
        }
    }
}
