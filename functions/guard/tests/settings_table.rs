//! The settings table (`config::SETTINGS`) against everything that repeats it: the deployment
//! template's parameters and the functions' environment, the README's configuration table, and
//! `Config` itself. A setting added to one and not the others fails here.

use std::path::PathBuf;

use vpce_guard::config::{Config, Setting, SETTINGS};

fn repository_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The lines of the template's top-level section `name` (up to the next top-level key).
fn section<'a>(template: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("{name}:");
    template
        .lines()
        .skip_while(|line| *line != header)
        .skip(1)
        .take_while(|line| line.is_empty() || line.starts_with(' ') || line.starts_with('#'))
        .collect()
}

/// The template's parameters, each with its `Default` (as written, quotes removed).
fn template_parameters(template: &str) -> Vec<(String, String)> {
    let mut parameters: Vec<(String, String)> = Vec::new();
    for line in section(template, "Parameters") {
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
            if !name.starts_with(' ') {
                parameters.push((name.to_string(), String::new()));
            }
        } else if let Some(default) = line.trim().strip_prefix("Default:") {
            if let Some(last) = parameters.last_mut() {
                last.1 = default.trim().trim_matches('"').to_string();
            }
        }
    }
    parameters
}

/// The `VPCE_GUARD_*: !Ref Parameter` pairs of the functions' environment.
fn template_environment(template: &str) -> Vec<(String, String)> {
    template
        .lines()
        .filter_map(|line| {
            let (variable, value) = line.trim().split_once(": !Ref ")?;
            variable.starts_with("VPCE_GUARD_").then(|| (variable.to_string(), value.trim().to_string()))
        })
        .collect()
}

#[test]
fn every_setting_is_a_template_parameter_with_the_same_default_and_nothing_else_is() {
    let template = repository_file("infra/template.yaml");
    let parameters = template_parameters(&template);
    let environment = template_environment(&template);
    for setting in SETTINGS {
        let Some(parameter) = setting.parameter else { continue };
        let declared = parameters.iter().find(|(name, _)| name == parameter);
        let (_, default) =
            declared.unwrap_or_else(|| panic!("{}: no template parameter {parameter}", setting.variable));
        assert_eq!(default, setting.default, "{}: the template's default of {parameter}", setting.variable);
        assert!(
            environment.contains(&(setting.variable.to_string(), parameter.to_string())),
            "the functions' environment lacks {}: !Ref {parameter}",
            setting.variable
        );
    }
    for (variable, parameter) in &environment {
        let setting = Setting::of(variable).unwrap_or_else(|| panic!("{variable} in the template is no setting"));
        assert_eq!(setting.parameter, Some(parameter.as_str()), "{variable}");
    }
}

#[test]
fn every_setting_is_a_row_of_the_readme_configuration_table_with_its_default() {
    let readme = repository_file("README.md");
    let rows: Vec<Vec<&str>> = readme
        .lines()
        .filter(|line| line.starts_with("| `VPCE_GUARD_"))
        .map(|line| line.trim_matches('|').split(" | ").map(str::trim).collect())
        .filter(|cells: &Vec<&str>| cells.len() >= 3)
        .collect();
    for setting in SETTINGS {
        let name = format!("`{}`", setting.variable);
        let row = rows.iter().find(|cells| cells[0] == name);
        let row = row.unwrap_or_else(|| panic!("README.md has no configuration row for {}", setting.variable));
        let documented = row[1];
        let expected = match setting.default {
            "" => documented.starts_with("empty"),
            default => documented.starts_with(&format!("`{default}`")),
        };
        assert!(expected, "{}: README says {documented:?}, the table {:?}", setting.variable, setting.default);
    }
    for cells in &rows {
        let variable = cells[0].trim_matches('`');
        assert!(Setting::of(variable).is_some(), "README.md documents {variable}, which is no setting");
    }
}

#[test]
fn flags_follow_the_variables_and_defaults_are_the_default_configuration() {
    for setting in SETTINGS {
        let derived = setting.variable.trim_start_matches("VPCE_GUARD_").to_ascii_lowercase().replace('_', "-");
        assert_eq!(setting.flag, derived, "{}", setting.variable);
        let with_default = Config::from_lookup(|name| (name == setting.variable).then(|| setting.default.to_string()));
        assert_eq!(with_default.unwrap(), Config::default(), "{}'s default is the default", setting.variable);
    }
}

/// Each field of `Config` and the setting that sets it: destructured in full, so that a new
/// field does not compile until it has a setting here (and so in the table).
#[test]
fn every_configuration_field_is_set_by_a_setting() {
    let Config {
        services: _,
        scope: _,
        notebook_policy: _,
        api_policy: _,
        client_cidrs: _,
        client_prefix_lists: _,
        iam_guardrail: _,
        guardrail_source_vpces: _,
        on_dns_conflict: _,
        dry_run: _,
        fix_vpc_dns: _,
        security_hub: _,
        profiles: _,
        services_overridden: _,
        studio_projects: _,
        studio_public_domains: _,
        s3_gateway: _,
        adopt_existing: _,
        endpoint_hourly_micro_usd: _,
        prune_idle_after: _,
    } = Config::default();
    // A non-default value of every setting changes the configuration.
    let changes = [
        ("VPCE_GUARD_SERVICES", "com.amazonaws.{region}.sagemaker.api"),
        ("VPCE_GUARD_SCOPE", "all"),
        ("VPCE_GUARD_NOTEBOOK_POLICY", "vpc-notebooks"),
        ("VPCE_GUARD_API_POLICY", "org"),
        ("VPCE_GUARD_CLIENT_CIDRS", "10.9.0.0/16"),
        ("VPCE_GUARD_CLIENT_PREFIX_LISTS", "pl-0123456789abcdef0"),
        ("VPCE_GUARD_ON_DNS_CONFLICT", "create"),
        ("VPCE_GUARD_IAM_GUARDRAIL", "guardrail"),
        ("VPCE_GUARD_GUARDRAIL_SOURCE_VPCES", "vpce-0123456789abcdef0"),
        ("VPCE_GUARD_DRY_RUN", "true"),
        ("VPCE_GUARD_FIX_VPC_DNS", "false"),
        ("VPCE_GUARD_PROFILES", "studio"),
        ("VPCE_GUARD_STUDIO_PROJECTS", "true"),
        ("VPCE_GUARD_STUDIO_PUBLIC_DOMAINS", "enforce"),
        ("VPCE_GUARD_S3_GATEWAY", "true"),
        ("VPCE_GUARD_ADOPT_EXISTING", "true"),
        ("VPCE_GUARD_ENDPOINT_HOURLY_USD", "0.013"),
        ("VPCE_GUARD_PRUNE_IDLE_AFTER", "7d"),
        ("VPCE_GUARD_SECURITY_HUB", "true"),
    ];
    assert_eq!(changes.len(), SETTINGS.len(), "one change per setting");
    for (variable, value) in changes {
        let changed = Config::from_lookup(|name| (name == variable).then(|| value.to_string())).unwrap();
        assert_ne!(changed, Config::default(), "{variable}={value} changes nothing");
    }
}
