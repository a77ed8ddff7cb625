//! Exercise 4: check a client frame.
//!
//! A copy of the client half of step 4's `protocol` module. The types are given;
//! [`parse_client_frame`] is yours to write. README.md says what it must do; `cargo test`
//! says whether it does.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// The longest chat message, counted in Unicode scalar values (`char`s) after trimming.
pub const MAX_TEXT_CHARS: usize = 4000;

/// A frame from a client that passed every check.
///
/// serde's internally tagged representation: the `type` field picks the variant, so
/// `{"type":"message","text":"hi"}` deserializes to `ClientFrame::Message { text: "hi" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Say something in the room. `text` is trimmed, not empty, at most
    /// [`MAX_TEXT_CHARS`] long.
    Message { text: String },
}

/// The `type`s this protocol step understands.
pub const KNOWN_TYPES: &[&str] = &["message"];

/// Why a client frame was refused: one variant per error `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// Not JSON, or JSON that is not an object.
    BadJson(String),
    /// An object whose `type` is missing, not a string, or not in [`KNOWN_TYPES`].
    UnknownType(String),
    /// A known `type` with a field missing or of the wrong kind.
    BadRequest(String),
    /// `text` was empty once trimmed.
    EmptyText,
    /// `text` had more than [`MAX_TEXT_CHARS`] chars once trimmed; `chars` is how many.
    TextTooLong { chars: usize },
}

impl ProtocolError {
    /// The `code` field of the `error` frame the server sends back.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::BadJson(_) => "bad_json",
            ProtocolError::UnknownType(_) => "unknown_type",
            ProtocolError::BadRequest(_) => "bad_request",
            ProtocolError::EmptyText => "empty_text",
            ProtocolError::TextTooLong { .. } => "text_too_long",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::BadJson(why)
            | ProtocolError::UnknownType(why)
            | ProtocolError::BadRequest(why) => f.write_str(why),
            ProtocolError::EmptyText => f.write_str("the message text is empty"),
            ProtocolError::TextTooLong { chars } => write!(
                f,
                "the message text is {chars} characters long; at most {MAX_TEXT_CHARS} are allowed"
            ),
        }
    }
}

/// Checks one text frame from a client. See README.md for the rules and their order.
pub fn parse_client_frame(raw: &str) -> Result<ClientFrame, ProtocolError> {
    let value: Value = serde_json::from_str(raw)
        .map_err(|e| ProtocolError::BadJson(format!("the frame is not valid JSON: {e}")))?;

    // Before serde: its tagged enums would also take `["message", "hi"]`.
    let Value::Object(object) = &value else {
        return Err(ProtocolError::BadJson(
            "a frame must be a JSON object".to_string(),
        ));
    };

    match object.get("type") {
        Some(Value::String(kind)) if KNOWN_TYPES.contains(&kind.as_str()) => {}
        Some(Value::String(kind)) => {
            return Err(ProtocolError::UnknownType(format!("unknown type {kind:?}")));
        }
        Some(_) => {
            return Err(ProtocolError::UnknownType(
                "`type` must be a string".to_string(),
            ));
        }
        None => {
            return Err(ProtocolError::UnknownType(
                "the object has no `type` field".to_string(),
            ));
        }
    }

    // The type is known, so whatever serde still refuses is a field problem.
    let frame =
        serde_json::from_value(value).map_err(|e| ProtocolError::BadRequest(e.to_string()))?;

    match frame {
        ClientFrame::Message { text } => {
            let text = text.trim();
            if text.is_empty() {
                return Err(ProtocolError::EmptyText);
            }
            let chars = text.chars().count();
            if chars > MAX_TEXT_CHARS {
                return Err(ProtocolError::TextTooLong { chars });
            }
            Ok(ClientFrame::Message {
                text: text.to_string(),
            })
        }
    }
}
