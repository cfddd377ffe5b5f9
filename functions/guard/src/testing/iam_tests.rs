//! Table tests of the policy evaluator.
use serde_json::json;

use super::*;

const ROLE: &str = "arn:aws:iam::111122223333:role/Analyst";
const OTHER_ACCOUNT_ROLE: &str = "arn:aws:iam::444455556666:role/Analyst";
const PRESIGN: &str = "sagemaker:CreatePresignedNotebookInstanceUrl";
const DESCRIBE: &str = "sagemaker:DescribeNotebookInstance";
const NOTEBOOK: &str = "arn:aws:sagemaker:us-west-2:111122223333:notebook-instance/nb-1";

use Decision::{Allow, ExplicitDeny, ImplicitDeny};

fn request(action: &str, resource: &str) -> Request {
    Request::new(ROLE, action, resource)
}

/// A named case: a policy, a request and the decision it must get.
type DecisionCase<'a> = (&'a str, Value, Request, Decision);

/// A named case: a condition block, context pairs and whether the condition holds.
type ConditionCase<'a> = (&'a str, Value, &'a [(&'a str, &'a str)], bool);

/// Asserts every case and reports all failures at once, by name.
fn assert_decisions(cases: Vec<DecisionCase>) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, policy, request, want)| {
            let got = evaluate(policy, request);
            (got != *want).then(|| format!("{name}: got {got:?}, want {want:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Asserts whether `condition` holds for a context built from pairs (a key given twice is
/// multivalued), through an Allow statement that only the condition restricts.
fn assert_conditions(cases: &[ConditionCase]) {
    let decisions = cases
        .iter()
        .map(|(name, condition, pairs, holds)| {
            let policy = json!({"Version": "2012-10-17", "Statement": {
                "Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}});
            let request = pairs.iter().fold(request(PRESIGN, NOTEBOOK), |r, (key, value)| r.with(key, value));
            (*name, policy, request, if *holds { Allow } else { ImplicitDeny })
        })
        .collect();
    assert_decisions(decisions);
}

fn allow_all() -> Value {
    json!({"Effect": "Allow", "Action": "*", "Resource": "*"})
}

fn policy(statements: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[test]
fn effects_combine_as_in_policy_evaluation_logic() {
    let deny_presign = json!({"Effect": "Deny", "Action": PRESIGN, "Resource": "*"});
    assert_decisions(vec![
        ("deny beats allow", policy(json!([allow_all(), deny_presign])), request(PRESIGN, NOTEBOOK), ExplicitDeny),
        ("deny first still wins", policy(json!([deny_presign, allow_all()])), request(PRESIGN, NOTEBOOK), ExplicitDeny),
        (
            "allow where deny does not match",
            policy(json!([allow_all(), deny_presign])),
            request(DESCRIBE, NOTEBOOK),
            Allow,
        ),
        ("deny alone does not allow", policy(json!([deny_presign])), request(DESCRIBE, NOTEBOOK), ImplicitDeny),
        (
            "no statement matches",
            policy(json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}])),
            request(PRESIGN, NOTEBOOK),
            ImplicitDeny,
        ),
        ("no statements", policy(json!([])), request(PRESIGN, NOTEBOOK), ImplicitDeny),
        ("single statement object", policy(allow_all()), request(PRESIGN, NOTEBOOK), Allow),
    ]);
}

#[test]
fn actions_match_case_insensitively_with_wildcards() {
    let allow = |action: Value| policy(json!({"Effect": "Allow", "Action": action, "Resource": "*"}));
    assert_decisions(vec![
        ("exact", allow(json!(PRESIGN)), request(PRESIGN, NOTEBOOK), Allow),
        ("case", allow(json!("SageMaker:createpresignednotebookinstanceURL")), request(PRESIGN, NOTEBOOK), Allow),
        ("star matches all", allow(json!("*")), request("ec2:CreateVpcEndpoint", "*"), Allow),
        ("service star", allow(json!("sagemaker:*")), request(DESCRIBE, NOTEBOOK), Allow),
        ("service star, other service", allow(json!("sagemaker:*")), request("ec2:DescribeVpcs", "*"), ImplicitDeny),
        ("prefix star", allow(json!("sagemaker:Describe*")), request(DESCRIBE, NOTEBOOK), Allow),
        ("prefix star, other action", allow(json!("sagemaker:Describe*")), request(PRESIGN, NOTEBOOK), ImplicitDeny),
        ("question mark", allow(json!("sagemaker:?escribeNotebookInstance")), request(DESCRIBE, NOTEBOOK), Allow),
        (
            "question mark is one char",
            allow(json!("sagemaker:?NotebookInstance")),
            request(DESCRIBE, NOTEBOOK),
            ImplicitDeny,
        ),
        ("list", allow(json!(["s3:GetObject", DESCRIBE])), request(DESCRIBE, NOTEBOOK), Allow),
        ("list without it", allow(json!(["s3:GetObject", DESCRIBE])), request(PRESIGN, NOTEBOOK), ImplicitDeny),
    ]);
}

#[test]
fn not_action_matches_every_other_action() {
    let not_iam = policy(json!({"Effect": "Allow", "NotAction": ["iam:*", "sts:*"], "Resource": "*"}));
    let deny_all_but_describe =
        policy(json!([allow_all(), {"Effect": "Deny", "NotAction": "sagemaker:Describe*", "Resource": "*"}]));
    assert_decisions(vec![
        ("other service allowed", not_iam.clone(), request(PRESIGN, NOTEBOOK), Allow),
        ("listed service not allowed", not_iam.clone(), request("iam:CreateUser", "*"), ImplicitDeny),
        ("second listed, any case", not_iam, request("STS:AssumeRole", "*"), ImplicitDeny),
        ("deny NotAction spares the listed", deny_all_but_describe.clone(), request(DESCRIBE, NOTEBOOK), Allow),
        ("deny NotAction denies the rest", deny_all_but_describe, request(PRESIGN, NOTEBOOK), ExplicitDeny),
    ]);
}

#[test]
fn resources_match_case_sensitively_with_wildcards() {
    let allow = |resource: Value| policy(json!({"Effect": "Allow", "Action": "*", "Resource": resource}));
    let account_notebooks = "arn:aws:sagemaker:us-west-2:111122223333:notebook-instance/*";
    let other = "arn:aws:sagemaker:us-west-2:444455556666:notebook-instance/nb-1";
    let not_nb1 = policy(json!({"Effect": "Allow", "Action": "*", "NotResource": NOTEBOOK}));
    assert_decisions(vec![
        ("exact", allow(json!(NOTEBOOK)), request(PRESIGN, NOTEBOOK), Allow),
        ("star", allow(json!("*")), request(PRESIGN, NOTEBOOK), Allow),
        ("account pattern", allow(json!(account_notebooks)), request(PRESIGN, NOTEBOOK), Allow),
        ("account pattern, other account", allow(json!(account_notebooks)), request(PRESIGN, other), ImplicitDeny),
        ("case-sensitive", allow(json!(NOTEBOOK.replace("nb-1", "NB-1"))), request(PRESIGN, NOTEBOOK), ImplicitDeny),
        ("question mark", allow(json!(NOTEBOOK.replace("nb-1", "nb-?"))), request(PRESIGN, NOTEBOOK), Allow),
        ("list", allow(json!([other, NOTEBOOK])), request(PRESIGN, NOTEBOOK), Allow),
        ("list without it", allow(json!([other])), request(PRESIGN, NOTEBOOK), ImplicitDeny),
        ("NotResource, listed", not_nb1.clone(), request(PRESIGN, NOTEBOOK), ImplicitDeny),
        ("NotResource, other", not_nb1, request(PRESIGN, other), Allow),
    ]);
}

#[test]
fn principals_match_in_every_documented_form() {
    let allow =
        |principal: Value| policy(json!({"Effect": "Allow", "Principal": principal, "Action": "*", "Resource": "*"}));
    let from = |principal: &str| Request::new(principal, PRESIGN, NOTEBOOK);
    let session = "arn:aws:sts::111122223333:assumed-role/Analyst/alice";
    assert_decisions(vec![
        ("star", allow(json!("*")), from(OTHER_ACCOUNT_ROLE), Allow),
        ("AWS star", allow(json!({"AWS": "*"})), from(OTHER_ACCOUNT_ROLE), Allow),
        ("account id", allow(json!({"AWS": "111122223333"})), from(ROLE), Allow),
        ("account id, session", allow(json!({"AWS": "111122223333"})), from(session), Allow),
        ("account id, other account", allow(json!({"AWS": "111122223333"})), from(OTHER_ACCOUNT_ROLE), ImplicitDeny),
        ("root", allow(json!({"AWS": "arn:aws:iam::111122223333:root"})), from(ROLE), Allow),
        (
            "root, other account",
            allow(json!({"AWS": "arn:aws:iam::111122223333:root"})),
            from(OTHER_ACCOUNT_ROLE),
            ImplicitDeny,
        ),
        ("root, other partition", allow(json!({"AWS": "arn:aws-cn:iam::111122223333:root"})), from(ROLE), ImplicitDeny),
        ("exact arn", allow(json!({"AWS": ROLE})), from(ROLE), Allow),
        (
            "exact arn, other role",
            allow(json!({"AWS": ROLE})),
            from("arn:aws:iam::111122223333:role/Admin"),
            ImplicitDeny,
        ),
        ("role arn, its session", allow(json!({"AWS": ROLE})), from(session), ImplicitDeny),
        ("list", allow(json!({"AWS": ["444455556666", ROLE]})), from(ROLE), Allow),
        ("list without it", allow(json!({"AWS": ["444455556666"]})), from(ROLE), ImplicitDeny),
        ("service", allow(json!({"Service": "sagemaker.amazonaws.com"})), from("sagemaker.amazonaws.com"), Allow),
        ("service, role caller", allow(json!({"Service": "sagemaker.amazonaws.com"})), from(ROLE), ImplicitDeny),
        ("no principal: identity policy", policy(allow_all()), from(OTHER_ACCOUNT_ROLE), Allow),
    ]);
}

#[test]
fn a_deny_for_another_principal_does_not_deny() {
    let deny_other = json!({"Effect": "Deny", "Principal": {"AWS": "444455556666"}, "Action": "*", "Resource": "*"});
    let document = policy(json!([allow_all(), deny_other]));
    assert_decisions(vec![
        ("this account", document.clone(), request(PRESIGN, NOTEBOOK), Allow),
        ("denied account", document, Request::new(OTHER_ACCOUNT_ROLE, PRESIGN, NOTEBOOK), ExplicitDeny),
    ]);
}

#[test]
fn string_operators() {
    assert_conditions(&[
        ("equals", json!({"StringEquals": {"k": "a"}}), &[("k", "a")], true),
        ("equals, other", json!({"StringEquals": {"k": "a"}}), &[("k", "b")], false),
        ("equals is case-sensitive", json!({"StringEquals": {"k": "a"}}), &[("k", "A")], false),
        ("equals, missing key", json!({"StringEquals": {"k": "a"}}), &[], false),
        (
            "equals, number value",
            json!({"StringEquals": {"aws:PrincipalAccount": 111122223333_u64}}),
            &[("aws:PrincipalAccount", "111122223333")],
            true,
        ),
        ("equals, bool value", json!({"StringEquals": {"k": true}}), &[("k", "true")], true),
        (
            "key name is case-insensitive",
            json!({"StringEquals": {"AWS:SourceVPCE": "vpce-1"}}),
            &[("aws:sourcevpce", "vpce-1")],
            true,
        ),
        ("ignore case", json!({"StringEqualsIgnoreCase": {"k": "ABC"}}), &[("k", "abc")], true),
        ("ignore case, other", json!({"StringEqualsIgnoreCase": {"k": "ABC"}}), &[("k", "abd")], false),
        ("ignore case, missing key", json!({"StringEqualsIgnoreCase": {"k": "ABC"}}), &[], false),
        ("like star", json!({"StringLike": {"k": "vpce-*"}}), &[("k", "vpce-1")], true),
        ("like is case-sensitive", json!({"StringLike": {"k": "VPCE-*"}}), &[("k", "vpce-1")], false),
        ("like question mark", json!({"StringLike": {"k": "a?c"}}), &[("k", "abc")], true),
        ("like question mark is one char", json!({"StringLike": {"k": "a?c"}}), &[("k", "abbc")], false),
        ("like, missing key", json!({"StringLike": {"k": "*"}}), &[], false),
        ("equals takes a star literally", json!({"StringEquals": {"k": "vpce-*"}}), &[("k", "vpce-1")], false),
    ]);
}

#[test]
fn negated_string_operators_hold_for_a_missing_key() {
    assert_conditions(&[
        ("not equals, other", json!({"StringNotEquals": {"k": "a"}}), &[("k", "b")], true),
        ("not equals, same", json!({"StringNotEquals": {"k": "a"}}), &[("k", "a")], false),
        ("not equals, missing key", json!({"StringNotEquals": {"k": "a"}}), &[], true),
        ("not equals, matches none", json!({"StringNotEquals": {"k": ["a", "b"]}}), &[("k", "c")], true),
        ("not equals, matches one", json!({"StringNotEquals": {"k": ["a", "b"]}}), &[("k", "b")], false),
        ("not equals ignore case", json!({"StringNotEqualsIgnoreCase": {"k": "ABC"}}), &[("k", "abc")], false),
        ("not equals ignore case, other", json!({"StringNotEqualsIgnoreCase": {"k": "ABC"}}), &[("k", "x")], true),
        ("not equals ignore case, missing key", json!({"StringNotEqualsIgnoreCase": {"k": "ABC"}}), &[], true),
        ("not like, matching", json!({"StringNotLike": {"k": "vpce-*"}}), &[("k", "vpce-1")], false),
        ("not like, other", json!({"StringNotLike": {"k": "vpce-*"}}), &[("k", "x")], true),
        ("not like, missing key", json!({"StringNotLike": {"k": "vpce-*"}}), &[], true),
    ]);
}

#[test]
fn arn_operators_compare_segment_by_segment() {
    let admins = "arn:aws:iam::*:role/admin-*";
    assert_conditions(&[
        ("equals", json!({"ArnEquals": {"aws:PrincipalArn": ROLE}}), &[("aws:PrincipalArn", ROLE)], true),
        (
            "equals, other",
            json!({"ArnEquals": {"aws:PrincipalArn": ROLE}}),
            &[("aws:PrincipalArn", OTHER_ACCOUNT_ROLE)],
            false,
        ),
        ("equals, missing key", json!({"ArnEquals": {"aws:PrincipalArn": ROLE}}), &[], false),
        ("like", json!({"ArnLike": {"k": admins}}), &[("k", "arn:aws:iam::111122223333:role/admin-x")], true),
        (
            "like, other resource type",
            json!({"ArnLike": {"k": admins}}),
            &[("k", "arn:aws:iam::111122223333:user/admin-x")],
            false,
        ),
        ("like, missing key", json!({"ArnLike": {"k": admins}}), &[], false),
        (
            "a segment's star stays in its segment",
            json!({"ArnLike": {"k": "arn:aws:iam::*:root"}}),
            &[("k", "arn:aws:iam::111122223333:role/x:root")],
            false,
        ),
        ("like, context value not an ARN", json!({"ArnLike": {"k": "*:*:*:*:*:*"}}), &[("k", "vpce-1")], false),
        ("not equals, same", json!({"ArnNotEquals": {"k": ROLE}}), &[("k", ROLE)], false),
        ("not equals, other", json!({"ArnNotEquals": {"k": ROLE}}), &[("k", OTHER_ACCOUNT_ROLE)], true),
        ("not equals, missing key", json!({"ArnNotEquals": {"k": ROLE}}), &[], true),
        (
            "not like, matching",
            json!({"ArnNotLike": {"k": admins}}),
            &[("k", "arn:aws:iam::111122223333:role/admin-x")],
            false,
        ),
        ("not like, other", json!({"ArnNotLike": {"k": admins}}), &[("k", ROLE)], true),
        ("not like, missing key", json!({"ArnNotLike": {"k": admins}}), &[], true),
    ]);
}

#[test]
fn bool_and_null_operators() {
    let secure = |value: Value| json!({"Bool": {"aws:SecureTransport": value}});
    assert_conditions(&[
        ("bool true", secure(json!("true")), &[("aws:SecureTransport", "true")], true),
        ("bool false", secure(json!("true")), &[("aws:SecureTransport", "false")], false),
        ("bool, missing key", secure(json!("true")), &[], false),
        ("bool, JSON bool", secure(json!(true)), &[("aws:SecureTransport", "true")], true),
        ("bool, any case", secure(json!("True")), &[("aws:SecureTransport", "true")], true),
        ("null true, missing key", json!({"Null": {"k": "true"}}), &[], true),
        ("null true, present", json!({"Null": {"k": "true"}}), &[("k", "a")], false),
        ("null false, present", json!({"Null": {"k": "false"}}), &[("k", "a")], true),
        ("null false, missing key", json!({"Null": {"k": "false"}}), &[], false),
        ("null, JSON bool", json!({"Null": {"k": true}}), &[], true),
    ]);
}

#[test]
fn if_exists_holds_for_a_missing_key_and_tests_a_present_one() {
    assert_conditions(&[
        ("equals, missing key", json!({"StringEqualsIfExists": {"k": "a"}}), &[], true),
        ("equals, same", json!({"StringEqualsIfExists": {"k": "a"}}), &[("k", "a")], true),
        ("equals, other", json!({"StringEqualsIfExists": {"k": "a"}}), &[("k", "b")], false),
        ("not equals, missing key", json!({"StringNotEqualsIfExists": {"k": "a"}}), &[], true),
        ("not equals, same", json!({"StringNotEqualsIfExists": {"k": "a"}}), &[("k", "a")], false),
        ("like, missing key", json!({"StringLikeIfExists": {"k": "a*"}}), &[], true),
        ("not like, present", json!({"StringNotLikeIfExists": {"k": "a*"}}), &[("k", "ab")], false),
        ("ignore case, missing key", json!({"StringEqualsIgnoreCaseIfExists": {"k": "a"}}), &[], true),
        ("arn like, missing key", json!({"ArnLikeIfExists": {"k": "arn:aws:iam::*:role/*"}}), &[], true),
        (
            "arn like, other",
            json!({"ArnLikeIfExists": {"k": "arn:aws:iam::*:role/*"}}),
            &[("k", "arn:aws:iam::1:user/u")],
            false,
        ),
        ("arn not equals, missing key", json!({"ArnNotEqualsIfExists": {"k": ROLE}}), &[], true),
        ("bool, missing key", json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}), &[], true),
        (
            "bool, present false",
            json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}),
            &[("aws:MultiFactorAuthPresent", "false")],
            false,
        ),
        ("any value, missing key", json!({"ForAnyValue:StringEqualsIfExists": {"k": "a"}}), &[], true),
    ]);
}

#[test]
fn set_operators_compare_every_context_value() {
    let any = json!({"ForAnyValue:StringEquals": {"k": ["a", "b"]}});
    let all = json!({"ForAllValues:StringEquals": {"k": ["a", "b"]}});
    let any_not = json!({"ForAnyValue:StringNotEquals": {"k": ["a", "b"]}});
    let all_not = json!({"ForAllValues:StringNotEquals": {"k": ["a", "b"]}});
    assert_conditions(&[
        ("any, one matches", any.clone(), &[("k", "x"), ("k", "b")], true),
        ("any, none matches", any.clone(), &[("k", "x"), ("k", "y")], false),
        ("any, missing key", any, &[], false),
        ("all, every one matches", all.clone(), &[("k", "a"), ("k", "b")], true),
        ("all, one does not", all.clone(), &[("k", "a"), ("k", "x")], false),
        ("all, missing key", all, &[], true),
        ("any not, one outside", any_not.clone(), &[("k", "a"), ("k", "x")], true),
        ("any not, all inside", any_not.clone(), &[("k", "a"), ("k", "b")], false),
        ("any not, missing key", any_not, &[], false),
        ("all not, all outside", all_not.clone(), &[("k", "x"), ("k", "y")], true),
        ("all not, one inside", all_not.clone(), &[("k", "x"), ("k", "a")], false),
        ("all not, missing key", all_not, &[], true),
        (
            "all like",
            json!({"ForAllValues:StringLike": {"aws:TagKeys": "team-*"}}),
            &[("aws:TagKeys", "team-a"), ("aws:TagKeys", "team-b")],
            true,
        ),
        (
            "any like ignores set case of key",
            json!({"ForAnyValue:StringLike": {"AWS:TAGKEYS": "team-*"}}),
            &[("aws:TagKeys", "x"), ("aws:tagkeys", "team-b")],
            true,
        ),
    ]);
}

#[test]
fn single_valued_operators_on_a_multivalued_key() {
    assert_conditions(&[
        ("positive: any context value", json!({"StringEquals": {"k": "a"}}), &[("k", "x"), ("k", "a")], true),
        ("positive: none", json!({"StringEquals": {"k": "a"}}), &[("k", "x"), ("k", "y")], false),
        ("negated: one matches", json!({"StringNotEquals": {"k": "a"}}), &[("k", "x"), ("k", "a")], false),
        ("negated: none matches", json!({"StringNotEquals": {"k": "a"}}), &[("k", "x"), ("k", "y")], true),
    ]);
}

#[test]
fn conditions_and_across_operators_and_keys_or_across_values() {
    let two_keys = json!({"StringEquals": {"k1": "a", "k2": "b"}});
    let two_operators = json!({"StringEquals": {"k1": "a"}, "StringLike": {"k2": "b*"}});
    assert_conditions(&[
        ("two keys, both hold", two_keys.clone(), &[("k1", "a"), ("k2", "b")], true),
        ("two keys, one holds", two_keys.clone(), &[("k1", "a")], false),
        ("two keys, other holds", two_keys, &[("k2", "b"), ("k1", "x")], false),
        ("two operators, both hold", two_operators.clone(), &[("k1", "a"), ("k2", "bc")], true),
        ("two operators, one fails", two_operators, &[("k1", "a"), ("k2", "c")], false),
        ("values are an OR", json!({"StringEquals": {"k": ["a", "b", "c"]}}), &[("k", "c")], true),
        ("empty block", json!({}), &[], true),
    ]);
}

#[test]
fn aws_default_endpoint_policy_allows_everything() {
    let default = json!({"Version": "2008-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]});
    let requests = [
        request(PRESIGN, NOTEBOOK),
        Request::new(OTHER_ACCOUNT_ROLE, "ec2:TerminateInstances", "arn:aws:ec2:us-west-2:444455556666:instance/i-1"),
        Request::new("sagemaker.amazonaws.com", "s3:GetObject", "arn:aws:s3:::bucket/key").with("k", "v"),
    ];
    for request in requests {
        assert!(allows(&default, &request), "{request:?}");
    }
}

#[test]
fn account_endpoint_policy_allows_only_principals_of_the_account() {
    let endpoint = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalAccount": "111122223333"}}}]});
    let own = request(PRESIGN, NOTEBOOK).with("aws:PrincipalAccount", "111122223333");
    let other = Request::new(OTHER_ACCOUNT_ROLE, PRESIGN, NOTEBOOK).with("aws:PrincipalAccount", "444455556666");
    assert_decisions(vec![
        ("own account", endpoint.clone(), own, Allow),
        ("other account", endpoint.clone(), other, ImplicitDeny),
        ("anonymous: no account", endpoint, request(PRESIGN, NOTEBOOK), ImplicitDeny),
    ]);
}

#[test]
fn notebook_endpoint_policies_allow_presigned_urls_for_listed_notebooks_only() {
    let listed = policy(json!([{"Effect": "Allow", "Principal": "*",
        "Action": "sagemaker:CreatePresignedNotebookInstanceUrl", "Resource": [NOTEBOOK]}]));
    let deny_all = policy(json!([{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]));
    let nb2 = NOTEBOOK.replace("nb-1", "nb-2");
    assert_decisions(vec![
        ("listed notebook", listed.clone(), request(PRESIGN, NOTEBOOK), Allow),
        ("other notebook", listed.clone(), request(PRESIGN, &nb2), ImplicitDeny),
        ("other action", listed, request(DESCRIBE, NOTEBOOK), ImplicitDeny),
        ("no notebook: deny all", deny_all, request(PRESIGN, NOTEBOOK), ExplicitDeny),
    ]);
}

#[test]
fn identity_guardrail_denies_presigned_urls_outside_the_endpoints() {
    let guardrail = json!({"Statement": [{"Effect": "Deny", "Action": PRESIGN, "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:SourceVpce": ["vpce-1", "vpce-2"]}}}]});
    assert_decisions(vec![
        ("no endpoint", guardrail.clone(), request(PRESIGN, NOTEBOOK), ExplicitDeny),
        (
            "other endpoint",
            guardrail.clone(),
            request(PRESIGN, NOTEBOOK).with("aws:SourceVpce", "vpce-3"),
            ExplicitDeny,
        ),
        (
            "listed endpoint",
            guardrail.clone(),
            request(PRESIGN, NOTEBOOK).with("aws:SourceVpce", "vpce-1"),
            ImplicitDeny,
        ),
        (
            "second listed endpoint",
            guardrail.clone(),
            request(PRESIGN, NOTEBOOK).with("aws:sourcevpce", "vpce-2"),
            ImplicitDeny,
        ),
        ("other action", guardrail, request(DESCRIBE, NOTEBOOK), ImplicitDeny),
    ]);
}

#[test]
fn glob_matches_whole_text() {
    let cases = [
        ("*", "", true),
        ("*", "anything:at/all", true),
        ("", "", true),
        ("", "a", false),
        ("a*", "a", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
        ("*c", "abcbc", true),
        ("a?", "a", false),
        ("??", "ab", true),
        ("a", "ab", false),
        ("ab", "a", false),
    ];
    for (pattern, text, want) in cases {
        assert_eq!(glob(pattern, text), want, "glob({pattern:?}, {text:?})");
    }
}

#[test]
fn request_context_keys_are_case_insensitive_and_multivalued() {
    let request = request(PRESIGN, NOTEBOOK).with("aws:TagKeys", "a").with("AWS:TAGKEYS", "b");
    assert_eq!(request.context.len(), 1);
    assert_eq!(request.values("aws:tagkeys"), ["a", "b"]);
}

#[test]
fn variable_syntax_is_plain_text_before_version_2012() {
    let literal = json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/${x}"}});
    assert!(allows(&literal, &request("s3:GetObject", "arn:aws:s3:::b/${x}")));
    let old = json!({"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"StringEquals": {"k": "${aws:username}"}}}});
    assert!(allows(&old, &request("s3:GetObject", "*").with("k", "${aws:username}")));
}

/// Evaluates a single statement in a 2012-10-17 document, for the rejection tests.
fn evaluate_statement(statement: Value) -> Decision {
    evaluate(&policy(statement), &request(PRESIGN, NOTEBOOK))
}

#[test]
#[should_panic(expected = "condition operator \"NumericLessThan\" is not supported")]
fn unsupported_operator_panics() {
    evaluate_statement(json!({"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"NumericLessThan": {"k": 1}}}));
}

#[test]
#[should_panic(expected = "condition operator \"StringEqual\" is not supported")]
fn misspelled_operator_panics_even_when_the_action_does_not_match() {
    evaluate_statement(json!({"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*",
        "Condition": {"StringEqual": {"k": "a"}}}));
}

#[test]
#[should_panic(expected = "Null takes no IfExists")]
fn null_if_exists_panics() {
    evaluate_statement(json!({"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"NullIfExists": {"k": "true"}}}));
}

#[test]
#[should_panic(expected = "NotPrincipal is not supported")]
fn not_principal_panics() {
    evaluate_statement(json!({"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "*", "Resource": "*"}));
}

#[test]
#[should_panic(expected = "partial wildcard")]
fn partial_principal_wildcard_panics() {
    let principal = json!({"AWS": "arn:aws:iam::111122223333:role/*"});
    evaluate_statement(json!({"Effect": "Allow", "Principal": principal, "Action": "*", "Resource": "*"}));
}

#[test]
#[should_panic(expected = "uses a policy variable")]
fn policy_variable_panics_under_version_2012() {
    evaluate_statement(json!({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/${aws:username}"}));
}

#[test]
#[should_panic(expected = "element \"Conditions\", which IAM does not know")]
fn unknown_statement_element_panics() {
    evaluate_statement(json!({"Effect": "Allow", "Action": "*", "Resource": "*",
        "Conditions": {"StringEquals": {"k": "a"}}}));
}

#[test]
#[should_panic(expected = "exactly one of Resource and NotResource")]
fn statement_without_resource_panics() {
    evaluate_statement(json!({"Effect": "Allow", "Action": "*"}));
}

#[test]
#[should_panic(expected = "exactly one of Action and NotAction")]
fn statement_with_action_and_not_action_panics() {
    evaluate_statement(json!({"Effect": "Allow", "Action": "*", "NotAction": "iam:*", "Resource": "*"}));
}

#[test]
#[should_panic(expected = "Effect must be")]
fn lowercase_effect_panics() {
    evaluate_statement(json!({"Effect": "allow", "Action": "*", "Resource": "*"}));
}

#[test]
#[should_panic(expected = "Version must be")]
fn unknown_version_panics() {
    evaluate(&json!({"Version": "2012-10-18", "Statement": []}), &request(PRESIGN, NOTEBOOK));
}

#[test]
#[should_panic(expected = "Statement must be")]
fn missing_statement_panics() {
    evaluate(&json!({"Version": "2012-10-17"}), &request(PRESIGN, NOTEBOOK));
}

#[test]
#[should_panic(expected = "not a valid Arn condition value")]
fn arn_condition_value_that_is_not_an_arn_panics() {
    evaluate_statement(json!({"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"ArnLike": {"aws:PrincipalArn": "role/*"}}}));
}

#[test]
#[should_panic(expected = "not a valid Bool condition value")]
fn bool_condition_value_that_is_not_a_bool_panics() {
    evaluate_statement(json!({"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "yes"}}}));
}

#[test]
fn an_scp_deny_limits_an_identity_allow_and_an_scp_alone_allows_nothing() {
    let full = policy(allow_all());
    let deny_presign = policy(json!([{"Effect": "Deny", "Action": PRESIGN, "Resource": "*"}]));
    let identity = policy(allow_all());
    let scps = [full.clone(), deny_presign];
    assert_eq!(evaluate_with_scps(&scps, &identity, &request(PRESIGN, NOTEBOOK)), ExplicitDeny);
    assert_eq!(evaluate_with_scps(&scps, &identity, &request(DESCRIBE, NOTEBOOK)), Allow);
    assert_eq!(evaluate_with_scps(&[full], &policy(json!([])), &request(DESCRIBE, NOTEBOOK)), ImplicitDeny);
    let only_deny = [policy(json!([{"Effect": "Deny", "Action": PRESIGN, "Resource": "*"}]))];
    assert_eq!(
        evaluate_with_scps(&only_deny, &identity, &request(DESCRIBE, NOTEBOOK)),
        ImplicitDeny,
        "an SCP grants nothing: without FullAWSAccess (or another Allow) nothing is allowed"
    );
}

#[test]
#[should_panic(expected = "an SCP has no Principal")]
fn an_scp_with_a_principal_panics() {
    let scp = policy(json!([{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]));
    evaluate_with_scps(&[scp], &policy(allow_all()), &request(PRESIGN, NOTEBOOK));
}
