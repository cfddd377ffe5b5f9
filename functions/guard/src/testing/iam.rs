//! An evaluator of one IAM policy document against one request, so tests can assert who and
//! what the policies vpce-guard writes (VPC endpoint policies, the identity guardrail) allow or
//! deny instead of comparing their text.
//!
//! It follows the IAM User Guide: "Policy evaluation logic" (within one document an explicit
//! `Deny` wins, a matching `Allow` allows, anything else is an implicit deny) and "IAM JSON
//! policy elements": "Principal", "Action", "Resource", "Condition operators" and "Version".
//!
//! Left out: combining documents (but SCPs of one level with an identity policy,
//! [`evaluate_with_scps`]; RCPs, permissions boundaries, session policies, an
//! identity policy together with a resource policy), `NotPrincipal`, policy variables, the
//! numeric, date, IP address and binary operators, and filling the request context: it holds
//! exactly the keys a test gives. What it does not model panics with a message, so a test can
//! never pass because a statement was silently skipped; every part of every statement is read
//! whatever the request.
//!
//! Where the docs leave room, it chooses:
//! - A single-valued operator with a multivalued context key holds, for a positive operator,
//!   when any context value matches any policy value; a negated operator is its exact negation
//!   (no context value matches any policy value). A key with an empty list of values is missing.
//! - `Resource` is one case-sensitive glob over the whole ARN: `*` may cross colons anywhere,
//!   where the docs only promise it for a `*` that ends a segment.
//! - `ArnEquals` and `ArnLike` are the same test, per ARN segment (the docs describe both that
//!   way). A policy value without six segments panics; such a context value matches nothing.
//! - `Bool` and `Null` values compare case-insensitively; anything but true/false panics.
//! - An `AWS` principal ARN matches that exact string only (a role does not match its sessions);
//!   an account ID or `:root` ARN matches every ARN of that account (`:root` also checks the
//!   partition). `Service`, `Federated` and `CanonicalUser` compare exactly to `principal_arn`.
//!   A `*` anywhere but a whole `AWS` value panics (IAM rejects partial principal wildcards).
//! - `${` panics only under Version 2012-10-17, in `Resource`, `NotResource` and condition
//!   values; under 2008-10-17 (the default when `Version` is absent) it is plain text.
//! - Operator names are case-sensitive; condition key names are not. Every statement needs
//!   `Resource` or `NotResource`: identity and endpoint policies require one.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A request to evaluate a policy against: who calls, which action, on what, and with which
/// condition keys in its context.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// The caller's ARN, matched against `Principal`.
    pub principal_arn: String,
    /// The action, `service:Operation`.
    pub action: String,
    /// The resource's ARN.
    pub resource: String,
    /// Condition keys and their values; a key absent here is absent from the request.
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    /// A request with an empty context.
    pub fn new(principal_arn: &str, action: &str, resource: &str) -> Self {
        Self {
            principal_arn: principal_arn.into(),
            action: action.into(),
            resource: resource.into(),
            ..Self::default()
        }
    }

    /// Adds `value` to context key `key`; adding to the same key again (in any case) makes it
    /// multivalued.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        let existing = self.context.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
        self.context.entry(existing.unwrap_or_else(|| key.to_string())).or_default().push(value.to_string());
        self
    }

    /// The values of `key`, looked up case-insensitively as IAM does.
    fn values(&self, key: &str) -> Vec<&str> {
        let matching = self.context.iter().filter(|(name, _)| name.eq_ignore_ascii_case(key));
        matching.flat_map(|(_, values)| values.iter().map(String::as_str)).collect()
    }
}

/// The outcome of evaluating one policy, named as in "Policy evaluation logic".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A matching statement allows and none denies.
    Allow,
    /// A matching statement denies; this wins over any allow.
    ExplicitDeny,
    /// No statement matches: denied by default.
    ImplicitDeny,
}

/// Evaluates `policy` for `request`. Panics on a document or element it does not model.
pub fn evaluate(policy: &Value, request: &Request) -> Decision {
    let document = object(policy, "a policy document");
    reject_unknown(document, &["Version", "Id", "Statement"], "a policy document");
    let variables = variables_enabled(document.get("Version"));
    let effects: Vec<Effect> =
        statements(document).into_iter().filter_map(|s| statement_effect(s, request, variables)).collect();
    if effects.contains(&Effect::Deny) {
        Decision::ExplicitDeny
    } else if effects.contains(&Effect::Allow) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// True when `policy` allows `request`: the shorthand for most assertions.
pub fn allows(policy: &Value, request: &Request) -> bool {
    evaluate(policy, request) == Decision::Allow
}

/// The decision for a principal of a member account whose identity policy is `identity`, under
/// the service control policies `scps` of one level (root, OU or account) of the Organization
/// ("Policy evaluation logic": an explicit deny in any of them denies; otherwise an SCP must
/// allow, since SCPs grant nothing, e.g. `FullAWSAccess`, and then the identity policy decides).
/// One level only: with SCPs at several levels each must allow. SCPs have no `Principal`.
pub fn evaluate_with_scps(scps: &[Value], identity: &Value, request: &Request) -> Decision {
    for scp in scps {
        for statement in statements(object(scp, "an SCP")) {
            let fields = object(statement, "a statement");
            assert!(
                !fields.contains_key("Principal") && !fields.contains_key("NotPrincipal"),
                "an SCP has no Principal: it applies to every principal of the accounts it is attached to"
            );
        }
    }
    let decisions: Vec<Decision> = scps.iter().map(|scp| evaluate(scp, request)).collect();
    let own = evaluate(identity, request);
    if decisions.contains(&Decision::ExplicitDeny) || own == Decision::ExplicitDeny {
        Decision::ExplicitDeny
    } else if decisions.contains(&Decision::Allow) {
        own
    } else {
        Decision::ImplicitDeny
    }
}

/// The elements IAM knows in a statement; any other name is a typo that must not be ignored.
const STATEMENT_ELEMENTS: [&str; 9] =
    ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

fn object<'a>(value: &'a Value, what: &str) -> &'a Map<String, Value> {
    value.as_object().unwrap_or_else(|| panic!("{what} must be a JSON object, got {value}"))
}

fn reject_unknown(fields: &Map<String, Value>, known: &[&str], what: &str) {
    if let Some(name) = fields.keys().find(|name| !known.contains(&name.as_str())) {
        panic!("{what} has the element {name:?}, which IAM does not know; expected one of {known:?}");
    }
}

/// Whether `${...}` is a policy variable: only under Version 2012-10-17 ("IAM JSON policy
/// elements: Version"); an absent Version means 2008-10-17.
fn variables_enabled(version: Option<&Value>) -> bool {
    match version.map(|v| (v, v.as_str())) {
        None | Some((_, Some("2008-10-17"))) => false,
        Some((_, Some("2012-10-17"))) => true,
        Some((other, _)) => panic!("Version must be \"2012-10-17\" or \"2008-10-17\", got {other}"),
    }
}

fn statements(document: &Map<String, Value>) -> Vec<&Value> {
    match document.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        other => panic!("Statement must be an object or an array of objects, got {other:?}"),
    }
}

/// The statement's effect when it applies to `request`. Every part is evaluated, so a part
/// this module cannot read panics whatever the request.
fn statement_effect(statement: &Value, request: &Request, variables: bool) -> Option<Effect> {
    let fields = object(statement, "a statement");
    reject_unknown(fields, &STATEMENT_ELEMENTS, "a statement");
    let effect = match fields.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        other => panic!("Effect must be \"Allow\" or \"Deny\", got {other:?}"),
    };
    let parts = [
        principal_matches(fields, &request.principal_arn),
        action_matches(fields, &request.action),
        resource_matches(fields, &request.resource, variables),
        conditions_hold(fields.get("Condition"), request, variables),
    ];
    parts.iter().all(|&part| part).then_some(effect)
}

/// True when every item is true, after evaluating all of them (no short circuit).
fn all_evaluated(results: impl Iterator<Item = bool>) -> bool {
    results.collect::<Vec<_>>().into_iter().all(|result| result)
}

/// A string or an array of strings, as `Action`, `Resource` and principal IDs are written.
fn strings(value: &Value, element: &str) -> Vec<String> {
    let as_string = |item: &Value| match item {
        Value::String(text) => text.clone(),
        other => panic!("{element} must hold strings, got {other}"),
    };
    match value {
        Value::Array(items) => items.iter().map(as_string).collect(),
        single => vec![as_string(single)],
    }
}

fn reject_variables(values: &[String], variables: bool) {
    if let Some(value) = values.iter().find(|value| variables && value.contains("${")) {
        panic!("{value:?} uses a policy variable, which this evaluator does not substitute");
    }
}

/// The patterns of `element` or of its `Not` form, and whether it was the `Not` form.
fn element_or_not(fields: &Map<String, Value>, element: &str, not_element: &str) -> (Vec<String>, bool) {
    match (fields.get(element), fields.get(not_element)) {
        (Some(value), None) => (strings(value, element), false),
        (None, Some(value)) => (strings(value, not_element), true),
        _ => panic!("a statement needs exactly one of {element} and {not_element}"),
    }
}

/// "IAM JSON policy elements: Action": case-insensitive, with `*` and `?`.
fn action_matches(fields: &Map<String, Value>, action: &str) -> bool {
    let (patterns, negated) = element_or_not(fields, "Action", "NotAction");
    let action = action.to_lowercase();
    negated != patterns.iter().any(|pattern| glob(&pattern.to_lowercase(), &action))
}

/// "IAM JSON policy elements: Resource": case-sensitive, with `*` and `?`.
fn resource_matches(fields: &Map<String, Value>, resource: &str, variables: bool) -> bool {
    let (patterns, negated) = element_or_not(fields, "Resource", "NotResource");
    reject_variables(&patterns, variables);
    negated != patterns.iter().any(|pattern| glob(pattern, resource))
}

/// "IAM JSON policy elements: Principal". No `Principal` is an identity policy: it applies to
/// the identity it is attached to.
fn principal_matches(fields: &Map<String, Value>, principal_arn: &str) -> bool {
    assert!(!fields.contains_key("NotPrincipal"), "NotPrincipal is not supported by this evaluator; use Principal");
    match fields.get("Principal") {
        None => true,
        Some(Value::String(star)) if star == "*" => true,
        Some(Value::Object(kinds)) => {
            let results: Vec<bool> =
                kinds.iter().map(|(kind, ids)| kind_matches(kind, &strings(ids, "Principal"), principal_arn)).collect();
            results.contains(&true)
        }
        Some(other) => panic!("Principal must be \"*\" or an object such as {{\"AWS\": ...}}, got {other}"),
    }
}

fn kind_matches(kind: &str, ids: &[String], principal_arn: &str) -> bool {
    if let Some(id) = ids.iter().find(|id| id.contains('*') && !(kind == "AWS" && id.as_str() == "*")) {
        panic!("principal {kind}: {id:?} has a partial wildcard, which IAM rejects; use \"*\" or a full ARN");
    }
    match kind {
        "AWS" => ids.iter().any(|id| aws_principal_matches(id, principal_arn)),
        "Service" | "Federated" | "CanonicalUser" => ids.iter().any(|id| id == principal_arn),
        other => panic!("principal type {other:?} is not one IAM knows (AWS, Service, Federated, CanonicalUser)"),
    }
}

fn aws_principal_matches(id: &str, principal_arn: &str) -> bool {
    let caller = arn_segments(principal_arn);
    let account = caller.as_ref().map(|segments| segments[4]);
    if id == "*" {
        return true;
    }
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        return account == Some(id);
    }
    match arn_segments(id) {
        Some(root) if root[2] == "iam" && root[5] == "root" => {
            caller.is_some_and(|caller| caller[1] == root[1] && caller[4] == root[4])
        }
        _ => id == principal_arn,
    }
}

/// The six colon-separated segments of an ARN; the last keeps any further colons.
fn arn_segments(arn: &str) -> Option<Vec<&str>> {
    let segments: Vec<&str> = arn.splitn(6, ':').collect();
    (segments.len() == 6).then_some(segments)
}

/// A glob with `*` (any run, also empty) and `?` (one character), over the whole text.
fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            (p, t) = (p + 1, t + 1);
        } else if p < pattern.len() && pattern[p] == '*' {
            last_star = Some((p, t));
            p += 1;
        } else if let Some((star, consumed)) = last_star {
            (p, t) = (star + 1, consumed + 1);
            last_star = Some((star, consumed + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// "IAM JSON policy elements: Condition": an AND over operators and over keys within one.
fn conditions_hold(block: Option<&Value>, request: &Request, variables: bool) -> bool {
    let Some(block) = block else { return true };
    all_evaluated(
        object(block, "Condition")
            .iter()
            .map(|(name, keys)| operator_holds(&Operator::parse(name), keys, request, variables)),
    )
}

fn operator_holds(operator: &Operator, keys: &Value, request: &Request, variables: bool) -> bool {
    all_evaluated(object(keys, "a condition operator's block").iter().map(|(key, values)| {
        let values = condition_values(values);
        reject_variables(&values, variables);
        operator.test.check(&values);
        operator.holds(&values, &request.values(key))
    }))
}

/// A condition's values: a string, a bool, a number, or an array of them; the values of one
/// key are an OR.
fn condition_values(value: &Value) -> Vec<String> {
    let as_string = |item: &Value| match item {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        other => panic!("a condition value must be a string, a bool or a number, got {other}"),
    };
    match value {
        Value::Array(items) => items.iter().map(as_string).collect(),
        single => vec![as_string(single)],
    }
}

/// A condition set operator, "ForAllValues:" or "ForAnyValue:".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    AllValues,
    AnyValue,
}

/// How one policy value is compared with one context value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    Equals,
    EqualsIgnoreCase,
    Like,
    Arn,
    Bool,
    Null,
}

/// A parsed condition operator name such as `ForAnyValue:StringNotLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    test: Test,
    negated: bool,
    if_exists: bool,
    set: Option<SetQualifier>,
}

impl Operator {
    fn parse(name: &str) -> Self {
        let (set, rest) = match name.split_once(':') {
            Some(("ForAllValues", rest)) => (Some(SetQualifier::AllValues), rest),
            Some(("ForAnyValue", rest)) => (Some(SetQualifier::AnyValue), rest),
            _ => (None, name),
        };
        let (base, if_exists) = rest.strip_suffix("IfExists").map_or((rest, false), |base| (base, true));
        let (test, negated) = base_test(base).unwrap_or_else(|| {
            panic!(
                "condition operator {name:?} is not supported by this evaluator; it knows the String, Arn, Bool \
                 and Null operators, with IfExists and ForAllValues:/ForAnyValue:"
            )
        });
        assert!(test != Test::Null || (!if_exists && set.is_none()), "{name:?}: Null takes no IfExists or set prefix");
        Self { test, negated, if_exists, set }
    }

    fn holds(&self, policy_values: &[String], context: &[&str]) -> bool {
        if self.test == Test::Null {
            return policy_values.iter().any(|value| value.eq_ignore_ascii_case("true") == context.is_empty());
        }
        if context.is_empty() {
            return self.holds_when_missing();
        }
        let matches = |value: &&str| policy_values.iter().any(|policy| self.test.matches(policy, value));
        match self.set {
            Some(SetQualifier::AllValues) => context.iter().all(|value| matches(value) != self.negated),
            Some(SetQualifier::AnyValue) => context.iter().any(|value| matches(value) != self.negated),
            None => context.iter().any(matches) != self.negated,
        }
    }

    /// "Condition operators": a missing key fails a positive operator and satisfies a negated
    /// one; `IfExists` and `ForAllValues` are satisfied, `ForAnyValue` is not.
    fn holds_when_missing(&self) -> bool {
        self.if_exists
            || match self.set {
                Some(SetQualifier::AllValues) => true,
                Some(SetQualifier::AnyValue) => false,
                None => self.negated,
            }
    }
}

/// The test and negation of an operator name without prefix or `IfExists`.
fn base_test(base: &str) -> Option<(Test, bool)> {
    Some(match base {
        "StringEquals" => (Test::Equals, false),
        "StringNotEquals" => (Test::Equals, true),
        "StringEqualsIgnoreCase" => (Test::EqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Test::EqualsIgnoreCase, true),
        "StringLike" => (Test::Like, false),
        "StringNotLike" => (Test::Like, true),
        "ArnEquals" | "ArnLike" => (Test::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Test::Arn, true),
        "Bool" => (Test::Bool, false),
        "Null" => (Test::Null, false),
        _ => return None,
    })
}

impl Test {
    /// Panics on policy values this test cannot compare with anything.
    fn check(self, values: &[String]) {
        let valid = |value: &String| match self {
            Test::Arn => arn_segments(value).is_some(),
            Test::Bool | Test::Null => value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
            _ => true,
        };
        if let Some(value) = values.iter().find(|value| !valid(value)) {
            panic!("{value:?} is not a valid {self:?} condition value (an ARN needs six colon-separated segments)");
        }
    }

    fn matches(self, policy: &str, value: &str) -> bool {
        match self {
            Test::Equals => policy == value,
            Test::EqualsIgnoreCase => policy.to_lowercase() == value.to_lowercase(),
            Test::Like => glob(policy, value),
            Test::Arn => arn_segments(value).is_some_and(|value| {
                arn_segments(policy).unwrap_or_default().iter().zip(&value).all(|(p, v)| glob(p, v))
            }),
            Test::Bool => policy.eq_ignore_ascii_case(value),
            Test::Null => unreachable!("Null is decided on the key's presence"),
        }
    }
}

#[cfg(test)]
#[path = "iam_tests.rs"]
mod tests;
