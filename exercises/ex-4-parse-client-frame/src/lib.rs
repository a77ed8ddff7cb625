//! Exercise 4: check a client frame.
//!
//! A copy of the client half of step 4's `protocol` module. The types are given;
//! [`parse_client_frame`] is yours to write. README.md says what it must do; `cargo test`
//! says whether it does.

use std::fmt;

use serde::Deserialize;

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

/// Checks one text frame from a client.
///
/// Returns the frame with its `text` trimmed, or the first rule it breaks, checked in
/// this order (README.md has the details):
///
/// 1. the frame is JSON, else [`ProtocolError::BadJson`];
/// 2. the JSON is an object (not an array, string, number, `true` or `null`), else
///    [`ProtocolError::BadJson`]: serde's tagged enums would accept
///    `["message", "hi"]`, so look at the shape before serde does;
/// 3. its `type` is a string listed in [`KNOWN_TYPES`], else
///    [`ProtocolError::UnknownType`];
/// 4. the fields of that type deserialize (`serde_json::from_value::<ClientFrame>`),
///    else [`ProtocolError::BadRequest`]; unknown extra fields are fine;
/// 5. the text, trimmed, is not empty ([`ProtocolError::EmptyText`]) and has at most
///    [`MAX_TEXT_CHARS`] `char`s ([`ProtocolError::TextTooLong`]).
///
/// The strings inside `BadJson`, `UnknownType` and `BadRequest` are for people: say
/// what is wrong, in a few words. The tests only check that they are not empty.
pub fn parse_client_frame(raw: &str) -> Result<ClientFrame, ProtocolError> {
    let _ = raw;
    todo!("check the frame, rule by rule")
}
