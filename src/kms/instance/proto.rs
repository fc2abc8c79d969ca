//! The three protobuf messages of `GetSecretValue` (proto3, `api.proto` of the official SDKs),
//! as prost derive structs: no `protoc`, no build script. Field numbers are the wire contract.

/// `GetSecretValueRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RequestMessage {
    /// `SecretName` = 1.
    #[prost(string, tag = "1")]
    pub secret_name: String,
    /// `VersionStage` = 2.
    #[prost(string, tag = "2")]
    pub version_stage: String,
    /// `VersionId` = 3.
    #[prost(string, tag = "3")]
    pub version_id: String,
    /// `FetchExtendedConfig` = 4.
    #[prost(bool, tag = "4")]
    pub fetch_extended_config: bool,
}

/// `GetSecretValueResponse` (HTTP 2xx body).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ResponseMessage {
    /// `SecretName` = 1.
    #[prost(string, tag = "1")]
    pub secret_name: String,
    /// `SecretType` = 2.
    #[prost(string, tag = "2")]
    pub secret_type: String,
    /// `SecretData` = 3.
    #[prost(string, tag = "3")]
    pub secret_data: String,
    /// `SecretDataType` = 4.
    #[prost(string, tag = "4")]
    pub secret_data_type: String,
    /// `VersionStages` = 5.
    #[prost(string, repeated, tag = "5")]
    pub version_stages: Vec<String>,
    /// `VersionId` = 6.
    #[prost(string, tag = "6")]
    pub version_id: String,
    /// `CreateTime` = 7.
    #[prost(string, tag = "7")]
    pub create_time: String,
    /// `RequestId` = 8.
    #[prost(string, tag = "8")]
    pub request_id: String,
    /// `LastRotationDate` = 9.
    #[prost(string, tag = "9")]
    pub last_rotation_date: String,
    /// `NextRotationDate` = 10.
    #[prost(string, tag = "10")]
    pub next_rotation_date: String,
    /// `ExtendedConfig` = 11.
    #[prost(string, tag = "11")]
    pub extended_config: String,
    /// `AutomaticRotation` = 12.
    #[prost(string, tag = "12")]
    pub automatic_rotation: String,
    /// `RotationInterval` = 13.
    #[prost(string, tag = "13")]
    pub rotation_interval: String,
}

/// `Error` (HTTP 4xx/5xx body).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ErrorMessage {
    /// `StatusCode` = 1 (unused by the SDKs; the HTTP status is authoritative).
    #[prost(int32, tag = "1")]
    pub status_code: i32,
    /// `ErrorCode` = 2.
    #[prost(string, tag = "2")]
    pub error_code: String,
    /// `ErrorMessage` = 3.
    #[prost(string, tag = "3")]
    pub error_message: String,
    /// `RequestId` = 4.
    #[prost(string, tag = "4")]
    pub request_id: String,
}
