//! The JSON protocol of step 8, the same as step 7's: `ping` and `pong` on top of
//! step 5's (the rows marked 4, 5 and 7 in PROTOCOL.md): the frames a client may send,
//! the frames the server sends, and the checks a client frame passes before it is
//! allowed to change anything.
//!
//! Nothing here knows about sockets or tasks, so every rule can be unit-tested with a
//! string in and a value out.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::name::{ROOM_RULE, is_valid_room_name};

/// The room of a connection whose `/ws` request names none.
pub const DEFAULT_ROOM: &str = "general";

/// The longest chat message, counted in Unicode scalar values (`char`s) after trimming,
/// so `é` and `e` count the same although UTF-8 spends two bytes on one and one on the
/// other.
pub const MAX_TEXT_CHARS: usize = 4000;

/// A frame from a client that passed every check.
///
/// The `type` field picks the variant: serde's *internally tagged* representation turns
/// `{"type":"message","text":"hi"}` into `ClientFrame::Message { text: "hi".into() }`.
/// Fields this step does not know are ignored rather than refused, so a newer client
/// still works with an older server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Say something in the room. Once parsed, `text` is trimmed, not empty and at most
    /// [`MAX_TEXT_CHARS`] long.
    Message { text: String },
    /// Leave the current room and join `room`, a valid room name once parsed.
    Join { room: String },
    /// An app-level heartbeat, `{"type":"ping"}`, answered with `pong`. Browsers cannot
    /// send WebSocket ping frames, so a page that wants to know whether the server is
    /// still there asks with this. Like any frame, it also tells the server that the
    /// client is.
    Ping,
}

/// The `type`s this step understands. Checked before serde sees the frame, so that "I do
/// not know this type" (`unknown_type`) and "this type is missing a field"
/// (`bad_request`) get different codes. Later steps add `typing`, `dm`...; until then
/// those are unknown here too.
const KNOWN_TYPES: &[&str] = &["message", "join", "ping"];

/// Why a client frame was refused. Each variant is one `code` of PROTOCOL.md. The server
/// answers with an `error` frame, changes nothing, and keeps the connection open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// Not JSON, JSON that is not an object, or a binary frame.
    BadJson(String),
    /// An object whose `type` is missing, not a string, or not one this step knows.
    UnknownType(String),
    /// A known `type` with a field missing or of the wrong kind.
    BadRequest(String),
    /// `text` was empty once white space was trimmed.
    EmptyText,
    /// `text` was longer than [`MAX_TEXT_CHARS`] once trimmed; `chars` is its length.
    TextTooLong { chars: usize },
    /// `join` named a room that breaks the rule for room names.
    BadRoom(String),
    /// `join` named a room where this user name is already connected. Unlike the others,
    /// this one is found when the frame is applied, not when it is parsed.
    NameTaken { user: String, room: String },
}

impl ProtocolError {
    /// The machine-readable `code` of the `error` frame.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::BadJson(_) => "bad_json",
            ProtocolError::UnknownType(_) => "unknown_type",
            ProtocolError::BadRequest(_) => "bad_request",
            ProtocolError::EmptyText => "empty_text",
            ProtocolError::TextTooLong { .. } => "text_too_long",
            ProtocolError::BadRoom(_) => "bad_room",
            ProtocolError::NameTaken { .. } => "name_taken",
        }
    }
}

/// The human-readable `message` of the `error` frame.
impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::BadJson(why)
            | ProtocolError::UnknownType(why)
            | ProtocolError::BadRequest(why)
            | ProtocolError::BadRoom(why) => f.write_str(why),
            ProtocolError::EmptyText => f.write_str("the message text is empty"),
            ProtocolError::TextTooLong { chars } => write!(
                f,
                "the message text is {chars} characters long; at most {MAX_TEXT_CHARS} are allowed"
            ),
            ProtocolError::NameTaken { user, room } => write!(
                f,
                "{user:?} is already connected in room {room:?}; you stay where you are"
            ),
        }
    }
}

/// Checks one text frame from a client, in the order PROTOCOL.md lists the error codes:
/// is it JSON, is it an object, is its `type` known, are its fields right, is its text
/// acceptable. The first check that fails decides the code.
pub fn parse_client_frame(raw: &str) -> Result<ClientFrame, ProtocolError> {
    let value: Value = serde_json::from_str(raw)
        .map_err(|e| ProtocolError::BadJson(format!("the frame is not valid JSON: {e}")))?;

    // serde's tagged enums also accept an array, reading the tag and then the fields in
    // declaration order: `["message", "hi"]` would parse as a message. The protocol says
    // objects only, so the shape is checked here, before serde sees the value.
    let Value::Object(object) = &value else {
        return Err(ProtocolError::BadJson(format!(
            "a frame must be a JSON object, not {}",
            kind_of(&value)
        )));
    };

    match object.get("type") {
        Some(Value::String(kind)) if KNOWN_TYPES.contains(&kind.as_str()) => {}
        Some(Value::String(kind)) => {
            return Err(ProtocolError::UnknownType(format!(
                "unknown type {kind:?}; this server understands: {}",
                KNOWN_TYPES.join(", ")
            )));
        }
        Some(other) => {
            return Err(ProtocolError::UnknownType(format!(
                "`type` must be a string, not {}",
                kind_of(other)
            )));
        }
        None => {
            return Err(ProtocolError::UnknownType(
                "the object has no `type` field".to_string(),
            ));
        }
    }

    // The type is known, so anything serde still refuses is a field problem, and its
    // message ("missing field `text`", "invalid type: integer `5`, expected a string")
    // says which.
    let frame =
        serde_json::from_value(value).map_err(|e| ProtocolError::BadRequest(e.to_string()))?;

    match frame {
        ClientFrame::Message { text } => Ok(ClientFrame::Message {
            text: check_text(&text)?,
        }),
        ClientFrame::Join { room } if is_valid_room_name(&room) => Ok(ClientFrame::Join { room }),
        ClientFrame::Join { room } => Err(ProtocolError::BadRoom(format!(
            "bad room {room:?}: {ROOM_RULE}"
        ))),
        ClientFrame::Ping => Ok(ClientFrame::Ping),
    }
}

/// Trims `text` and checks its length; returns the trimmed text.
fn check_text(text: &str) -> Result<String, ProtocolError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ProtocolError::EmptyText);
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ProtocolError::TextTooLong { chars });
    }
    Ok(text.to_string())
}

/// A JSON value's kind, in words, for error messages.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A frame the server sends. The same tagging as [`ClientFrame`] writes the variant name
/// into `type`, so `ServerFrame::Joined { .. }` goes out as `{"type":"joined",...}`.
/// The fields borrow: serializing needs to read the data, never to own it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// The first frame on every connection, and the answer to each `join`. `members`
    /// names everyone in the room at that moment, the new member included, in the order
    /// they joined; the `joined` and `left` frames that follow change that list.
    Welcome {
        user: &'a str,
        room: &'a str,
        members: &'a [String],
    },
    /// A chat message, sent to every member including its author, which is how the
    /// author learns its `id`. `ts` is milliseconds since the Unix epoch.
    Message {
        id: u64,
        room: &'a str,
        user: &'a str,
        text: &'a str,
        ts: u64,
    },
    /// Someone else entered the room.
    Joined { room: &'a str, user: &'a str },
    /// Someone else left the room.
    Left { room: &'a str, user: &'a str },
    /// The client's last frame was refused; nothing changed.
    Error { code: &'a str, message: &'a str },
    /// The answer to the client's `ping`: `{"type":"pong"}`.
    Pong,
}

impl ServerFrame<'_> {
    /// The frame as JSON text, ready to send or to share with every member.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .expect("a server frame holds only strings and integers, which always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(raw: &str) -> &'static str {
        parse_client_frame(raw).unwrap_err().code()
    }

    #[test]
    fn a_message_is_parsed_and_trimmed() {
        assert_eq!(
            parse_client_frame(r#"{"type":"message","text":"  hi  \n"}"#),
            Ok(ClientFrame::Message { text: "hi".into() })
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert_eq!(
            parse_client_frame(r#"{"type":"message","text":"hi","mood":"happy"}"#),
            Ok(ClientFrame::Message { text: "hi".into() })
        );
    }

    #[test]
    fn a_join_is_parsed_with_a_valid_room() {
        assert_eq!(
            parse_client_frame(r#"{"type":"join","room":"rust-2024_x"}"#),
            Ok(ClientFrame::Join {
                room: "rust-2024_x".into()
            })
        );
    }

    #[test]
    fn ping_has_no_fields_and_ignores_any_it_is_given() {
        assert_eq!(
            parse_client_frame(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping)
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"ping","sent":1700000000000}"#),
            Ok(ClientFrame::Ping)
        );
        assert_eq!(ServerFrame::Pong.to_json(), r#"{"type":"pong"}"#);
    }

    #[test]
    fn serde_alone_would_accept_an_array() {
        // This is the pitfall the shape check in `parse_client_frame` exists for.
        let frame: ClientFrame = serde_json::from_str(r#"["message", "hi"]"#).unwrap();
        assert_eq!(frame, ClientFrame::Message { text: "hi".into() });
        assert_eq!(code_of(r#"["message", "hi"]"#), "bad_json");
    }

    #[test]
    fn each_refusal_has_its_code() {
        assert_eq!(code_of("hello"), "bad_json");
        assert_eq!(code_of("42"), "bad_json");
        assert_eq!(code_of("null"), "bad_json");
        assert_eq!(code_of(r#"{"text":"hi"}"#), "unknown_type");
        assert_eq!(code_of(r#"{"type":7,"text":"hi"}"#), "unknown_type");
        assert_eq!(code_of(r#"{"type":"typing"}"#), "unknown_type");
        assert_eq!(code_of(r#"{"type":"join"}"#), "bad_request");
        assert_eq!(code_of(r#"{"type":"join","room":7}"#), "bad_request");
        assert_eq!(code_of(r#"{"type":"join","room":"Rust"}"#), "bad_room");
        assert_eq!(code_of(r#"{"type":"join","room":""}"#), "bad_room");
        assert_eq!(code_of(r#"{"type":"message"}"#), "bad_request");
        assert_eq!(code_of(r#"{"type":"message","text":5}"#), "bad_request");
        assert_eq!(code_of(r#"{"type":"message","text":" \t "}"#), "empty_text");
    }

    #[test]
    fn text_length_counts_chars_not_bytes() {
        let longest = format!(r#"{{"type":"message","text":"{}"}}"#, "é".repeat(4000));
        assert!(parse_client_frame(&longest).is_ok());
        let too_long = format!(r#"{{"type":"message","text":"{}"}}"#, "a".repeat(4001));
        assert_eq!(
            parse_client_frame(&too_long),
            Err(ProtocolError::TextTooLong { chars: 4001 })
        );
    }

    #[test]
    fn server_frames_carry_their_type() {
        let frame = ServerFrame::Joined {
            room: DEFAULT_ROOM,
            user: "alice",
        };
        assert_eq!(
            frame.to_json(),
            r#"{"type":"joined","room":"general","user":"alice"}"#
        );
    }
}
