//! One error type for the library, with a class that tells Lambda (and EventBridge) whether
//! a retry can help.

use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Whether retrying the same invocation later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// AWS was unreachable, throttled past the retries, or a resource was not yet visible.
    Transient,
    /// The input or the configuration is wrong; retrying will fail the same way.
    Permanent,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Transient => "Transient",
            ErrorClass::Permanent => "Permanent",
        })
    }
}

/// Everything that can stop an invocation. Messages say what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An environment variable holds a value vpce-guard does not accept.
    #[error("configuration: {variable}={value:?} is not valid; {expected}")]
    Config {
        /// The variable's name, e.g. `VPCE_GUARD_SCOPE`.
        variable: &'static str,
        /// The value found.
        value: String,
        /// What the variable accepts.
        expected: String,
    },
    /// The incoming event or payload cannot be understood; nothing was written.
    #[error("bad event: {0}; nothing was changed")]
    BadEvent(String),
    /// A resource the event names does not exist (after brief retries).
    #[error("{kind} {id} was not found{hint}")]
    NotFound {
        /// What kind of resource, e.g. "notebook instance".
        kind: &'static str,
        /// Its id or name.
        id: String,
        /// Extra advice, starting with "; " when present.
        hint: String,
    },
    /// An AWS API call failed.
    #[error("AWS {operation} failed: {code}: {message}")]
    Aws {
        /// The API operation, e.g. `CreateVpcEndpoint`.
        operation: &'static str,
        /// AWS error code, or a transport description.
        code: String,
        /// AWS error message.
        message: String,
        /// Whether a retry can help.
        class: ErrorClass,
    },
}

impl Error {
    /// Transient or permanent: decides the Lambda `errorType` and whether retries help.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Config { .. } | Error::BadEvent(_) => ErrorClass::Permanent,
            Error::NotFound { .. } => ErrorClass::Transient,
            Error::Aws { class, .. } => *class,
        }
    }

    /// A short, stable name for the variant, used in `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config { .. } => "Config",
            Error::BadEvent(_) => "BadEvent",
            Error::NotFound { .. } => "NotFound",
            Error::Aws { .. } => "Aws",
        }
    }

    /// The Lambda `errorType`, e.g. `Transient.Aws` or `Permanent.BadEvent`.
    pub fn error_type(&self) -> String {
        format!("{}.{}", self.class(), self.kind())
    }

    /// The AWS error code, when this is an AWS error.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True when AWS refused the call for its request rate (EC2's `RequestLimitExceeded`, the
    /// other services' `Throttling*` codes): waiting and asking again succeeds.
    pub fn is_throttled(&self) -> bool {
        self.aws_code().is_some_and(is_throttling_code)
    }

    /// The AWS error message, when this is an AWS error.
    pub fn aws_message(&self) -> Option<&str> {
        match self {
            Error::Aws { message, .. } => Some(message),
            _ => None,
        }
    }

    pub(crate) fn bad_event(message: impl Into<String>) -> Self {
        Error::BadEvent(message.into())
    }
}

/// The error codes AWS answers when a caller exceeds a request rate: EC2's
/// `RequestLimitExceeded` (EC2 API reference, "Request throttling"), and the `Throttling`,
/// `ThrottlingException` and `TooManyRequestsException` of the query and JSON protocols.
pub const THROTTLING_CODES: [&str; 4] =
    ["RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException"];

/// True for one of [`THROTTLING_CODES`].
pub fn is_throttling_code(code: &str) -> bool {
    THROTTLING_CODES.contains(&code)
}

/// Error codes of a service that failed on its side, whatever the HTTP status: EC2 answers
/// `InternalError` and `Unavailable` (EC2 API reference, "Error codes for the Amazon EC2 API":
/// server errors), the query and JSON protocols `InternalFailure` and `ServiceUnavailable`
/// (AWS SDKs and Tools Reference Guide, "Retry behavior": transient errors).
pub const SERVER_FAULT_CODES: [&str; 5] =
    ["InternalError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException", "Unavailable"];

/// The one classification of an AWS service error, for every path (the functions, the CLI, the
/// signed Security Hub calls): an answer with HTTP 5xx or 429, a throttling code
/// ([`THROTTLING_CODES`]) or a server fault code ([`SERVER_FAULT_CODES`]) is transient (a
/// later attempt can succeed); every other service error is permanent.
pub fn classify(status: u16, code: &str) -> ErrorClass {
    let transient = status >= 500 || status == 429 || is_throttling_code(code) || SERVER_FAULT_CODES.contains(&code);
    if transient {
        ErrorClass::Transient
    } else {
        ErrorClass::Permanent
    }
}

/// An SDK error as the library's: a service's answer classified by [`classify`]; no answer at
/// all (no connection, a timeout, no credentials, an unreadable response) is `Unreachable`,
/// transient.
pub fn aws_error<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown").to_string();
            let message = service.err().message().unwrap_or_default().to_string();
            let class = classify(service.raw().status().as_u16(), &code);
            Error::Aws { operation, code, message, class }
        }
        other => Error::Aws {
            operation,
            code: "Unreachable".into(),
            message: aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
            class: ErrorClass::Transient,
        },
    }
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(error: Error) -> Self {
        lambda_runtime::Diagnostic { error_type: error.error_type(), error_message: error.to_string() }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_names_class_and_kind() {
        let bad = Error::bad_event("missing detail.requestParameters");
        assert_eq!(bad.error_type(), "Permanent.BadEvent");
        let throttled = Error::Aws {
            operation: "CreateVpcEndpoint",
            code: "RequestLimitExceeded".into(),
            message: "slow down".into(),
            class: ErrorClass::Transient,
        };
        let diagnostic: lambda_runtime::Diagnostic = throttled.into();
        assert_eq!(diagnostic.error_type, "Transient.Aws");
        assert!(diagnostic.error_message.contains("RequestLimitExceeded"));
    }

    #[test]
    fn throttling_and_server_faults_are_transient_other_service_errors_permanent() {
        let cases = [
            (400, "Throttling", ErrorClass::Transient),
            (503, "RequestLimitExceeded", ErrorClass::Transient),
            (429, "LimitExceededException", ErrorClass::Transient),
            (500, "Anything", ErrorClass::Transient),
            (400, "InternalFailure", ErrorClass::Transient),
            (200, "ServiceUnavailable", ErrorClass::Transient),
            (400, "ValidationException", ErrorClass::Permanent),
            (403, "AccessDenied", ErrorClass::Permanent),
            (400, "InvalidParameterValue", ErrorClass::Permanent),
            (404, "NoSuchEntity", ErrorClass::Permanent),
        ];
        for (status, code, class) in cases {
            assert_eq!(classify(status, code), class, "HTTP {status} {code}");
        }
    }
}
