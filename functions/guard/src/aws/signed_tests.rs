//! The hand-signed calls: signatures checked against botocore's `SigV4Auth` (the reference
//! signer of the project's Python venv), endpoints per partition and the endpoint variables,
//! and answers that are not the service's JSON.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::{json, Value};

use super::*;

/// 2026-11-30T02:00:00Z.
const FIXED_TIME: u64 = 1_796_004_000;

fn config(region: &str, endpoint: Option<&str>) -> SdkConfig {
    let mut builder =
        SdkConfig::builder().behavior_version(BehaviorVersion::latest()).region(Region::new(region.to_string()));
    if let Some(url) = endpoint {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

fn api(region: &str) -> JsonApi {
    JsonApi::new(&config(region, None), "securityhub", region, Arc::default())
}

/// botocore's `SigV4Auth` on the same request at the same time: its `Authorization` header.
fn botocore_authorization(case: &Value) -> String {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");
    assert!(std::path::Path::new(python).exists(), "{python} is missing: run scripts/setup-venv.sh first");
    const SCRIPT: &str = r#"
import datetime, json, sys
from unittest import mock
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
case = json.load(sys.stdin)
credentials = Credentials(case["access_key"], case["secret_key"], case["token"])
request = AWSRequest(method=case["method"], url=case["url"], data=bytes.fromhex(case["body_hex"]), headers=case["headers"])
now = datetime.datetime.fromtimestamp(case["time"], datetime.timezone.utc).replace(tzinfo=None)
with mock.patch.object(botocore.auth, "get_current_datetime", return_value=now):
    botocore.auth.SigV4Auth(credentials, case["service"], case["region"]).add_auth(request)
print(request.headers["Authorization"])
"#;
    let mut child = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the venv's python runs");
    child.stdin.take().unwrap().write_all(case.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "botocore: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn signatures_match_botocores_sigv4_with_and_without_a_session_token() {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(FIXED_TIME);
    let body = serde_json::to_vec(&json!({"Findings": [{"Description": "VPC « vpc-0a » n'est pas conforme: 端点 ✓"}]}))
        .unwrap();
    assert!(!body.is_ascii(), "the body carries non-ASCII text");
    for (region, token) in [("us-west-2", None), ("eu-central-1", Some("FQoGZXIvYXdzEXAMPLETOKEN+/="))] {
        let api = api(region);
        let uri = format!("{}/findings/import", api.endpoint);
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_string),
            None,
            "test",
        );
        let request =
            api.signed_request("BatchImportFindings", "POST", &uri, &body, &credentials.into(), time).unwrap();
        let header = |name: &str| request.headers().get(name).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(header("x-amz-date").as_deref(), Some("20261130T020000Z"));
        assert_eq!(header("x-amz-security-token").as_deref(), token);
        let case = json!({
            "method": "POST",
            "access_key": "AKIDEXAMPLE",
            "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "token": token,
            "url": uri,
            "body_hex": body.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "headers": {"content-type": "application/json", "host": format!("securityhub.{region}.amazonaws.com")},
            "time": FIXED_TIME,
            "service": "securityhub",
            "region": region,
        });
        let ours = header("authorization").expect("signed");
        assert_eq!(ours, botocore_authorization(&case), "{region}, session token {token:?}");
        let signed_headers = if token.is_some() {
            "content-type;host;x-amz-date;x-amz-security-token"
        } else {
            "content-type;host;x-amz-date"
        };
        assert!(ours.contains(&format!("SignedHeaders={signed_headers},")), "{ours}");
    }
}

#[test]
fn a_get_with_a_query_string_and_a_path_parameter_is_signed_as_botocore_signs_it() {
    // Route 53 Profiles' list calls: REST-JSON GETs whose pagination token may hold `+`, `/`, `=`.
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(FIXED_TIME);
    let api = JsonApi::new(&config("eu-west-1", None), "route53profiles", "eu-west-1", Arc::default());
    let token = "AAEAAX+page/2==";
    for path in [
        format!(
            "/profileassociations{}",
            query(&[("maxResults", "100"), ("resourceId", "vpc-0a1b"), ("nextToken", token)])
        ),
        format!(
            "/profileresourceassociations/profileid/{}{}",
            encode("rp-4987774726example"),
            query(&[("maxResults", "100")])
        ),
    ] {
        let uri = format!("{}{path}", api.endpoint);
        let credentials =
            Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "test");
        let request =
            api.signed_request("ListProfileAssociations", "GET", &uri, &[], &credentials.into(), time).unwrap();
        assert_eq!(request.method(), "GET");
        assert_eq!(request.uri().to_string(), uri, "sent as signed");
        let case = json!({
            "method": "GET",
            "access_key": "AKIDEXAMPLE",
            "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "token": null,
            "url": uri,
            "body_hex": "",
            "headers": {"host": "route53profiles.eu-west-1.amazonaws.com"},
            "time": FIXED_TIME,
            "service": "route53profiles",
            "region": "eu-west-1",
        });
        let ours = request.headers().get("authorization").unwrap().to_str().unwrap().to_string();
        assert_eq!(ours, botocore_authorization(&case), "{path}");
        assert!(ours.contains("SignedHeaders=host;x-amz-date,"), "{ours}");
    }
    assert_eq!(query(&[]), "");
    assert_eq!(query(&[("nextToken", "a+b/c=")]), "?nextToken=a%2Bb%2Fc%3D");
}

#[test]
fn endpoints_follow_the_partition_and_the_endpoint_variables() {
    let none = |_: &str| None;
    for (region, expected) in [
        ("us-west-2", "https://securityhub.us-west-2.amazonaws.com"),
        ("cn-north-1", "https://securityhub.cn-north-1.amazonaws.com.cn"),
        ("cn-northwest-1", "https://securityhub.cn-northwest-1.amazonaws.com.cn"),
        ("us-gov-west-1", "https://securityhub.us-gov-west-1.amazonaws.com"),
    ] {
        assert_eq!(endpoint_url(&config(region, None), "securityhub", region, none), expected);
    }
    let general = config("us-west-2", Some("http://127.0.0.1:4566/"));
    assert_eq!(endpoint_url(&general, "securityhub", "us-west-2", none), "http://127.0.0.1:4566");
    let specific = |name: &str| (name == "AWS_ENDPOINT_URL_SECURITYHUB").then(|| "http://127.0.0.1:9443/".to_string());
    for config in [config("us-west-2", None), general.clone()] {
        assert_eq!(endpoint_url(&config, "securityhub", "us-west-2", specific), "http://127.0.0.1:9443");
    }
    // Route 53 Profiles: its own variable first, the general one, else the partition's endpoint.
    for (region, expected) in [
        ("us-west-2", "https://route53profiles.us-west-2.amazonaws.com"),
        ("cn-north-1", "https://route53profiles.cn-north-1.amazonaws.com.cn"),
        ("us-gov-west-1", "https://route53profiles.us-gov-west-1.amazonaws.com"),
    ] {
        assert_eq!(endpoint_url(&config(region, None), "route53profiles", region, none), expected);
    }
    let profiles =
        |name: &str| (name == "AWS_ENDPOINT_URL_ROUTE53PROFILES").then(|| "http://127.0.0.1:9553".to_string());
    assert_eq!(endpoint_url(&general, "route53profiles", "us-west-2", profiles), "http://127.0.0.1:9553");
    assert_eq!(endpoint_url(&general, "route53profiles", "us-west-2", specific), "http://127.0.0.1:4566");
}

#[test]
fn a_success_whose_body_is_not_json_is_an_error_not_an_empty_answer() {
    let uri = "https://securityhub.us-west-2.amazonaws.com/findings";
    let ok = answer("GetFindings", uri, http::StatusCode::OK, None, br#"{"Findings": []}"#).unwrap();
    assert_eq!(ok["Findings"], json!([]));
    for body in [&b"<html><body>Sign in to the proxy</body></html>"[..], b"", b"{\"Findings\": ["] {
        let error = answer("GetFindings", uri, http::StatusCode::OK, None, body).expect_err("not the service's JSON");
        assert_eq!(error.aws_code(), Some("InvalidResponse"), "{error}");
        assert!(error.to_string().contains("not JSON"), "{error}");
    }
}

#[test]
fn an_aws_json_1_1_call_signs_its_target_header_as_botocore_does() {
    // CloudTrail's and Organizations' calls: a POST to `/` naming the operation in `X-Amz-Target`,
    // which SigV4 must cover (an `x-amz-*` header sent unsigned is refused).
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(FIXED_TIME);
    let target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";
    let api = JsonApi::json_1_1(&config("us-east-1", None), "cloudtrail", target, "us-east-1", Arc::default());
    let body = serde_json::to_vec(&json!({"includeShadowTrails": true})).unwrap();
    let uri = format!("{}/", api.endpoint);
    let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "test");
    let request = api.signed_request("DescribeTrails", "POST", &uri, &body, &credentials.into(), time).unwrap();
    let header = |name: &str| request.headers().get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("x-amz-target").as_deref(), Some(format!("{target}.DescribeTrails").as_str()));
    assert_eq!(header("content-type").as_deref(), Some("application/x-amz-json-1.1"));
    let case = json!({
        "method": "POST",
        "access_key": "AKIDEXAMPLE",
        "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "token": null,
        "url": uri,
        "body_hex": body.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "headers": {"content-type": "application/x-amz-json-1.1", "host": "cloudtrail.us-east-1.amazonaws.com",
                    "x-amz-target": format!("{target}.DescribeTrails")},
        "time": FIXED_TIME,
        "service": "cloudtrail",
        "region": "us-east-1",
    });
    let ours = header("authorization").expect("signed");
    assert!(ours.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target,"), "{ours}");
    assert_eq!(ours, botocore_authorization(&case));
}
