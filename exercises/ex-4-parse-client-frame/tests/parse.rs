//! The rules of `parse_client_frame`, one behaviour per test.

use ex_4_parse_client_frame::{ClientFrame, MAX_TEXT_CHARS, ProtocolError, parse_client_frame};

fn message(text: &str) -> ClientFrame {
    ClientFrame::Message { text: text.into() }
}

/// A `{"type":"message","text":...}` frame, with `text` escaped by serde_json.
fn say(text: &str) -> String {
    serde_json::json!({"type": "message", "text": text}).to_string()
}

/// Asserts that `raw` is refused with `code`, and that a refusal carrying an
/// explanation has a non-empty one.
fn assert_refused(raw: &str, code: &str) {
    match parse_client_frame(raw) {
        Ok(frame) => panic!("{raw:?} was accepted as {frame:?}, expected {code}"),
        Err(error) => {
            assert_eq!(error.code(), code, "{raw:?} gave {error:?}");
            if let ProtocolError::BadJson(why)
            | ProtocolError::UnknownType(why)
            | ProtocolError::BadRequest(why) = &error
            {
                assert!(!why.trim().is_empty(), "{raw:?}: the explanation is empty");
            }
        }
    }
}

#[test]
fn a_message_frame_is_accepted() {
    assert_eq!(parse_client_frame(&say("hello")), Ok(message("hello")));
}

#[test]
fn the_text_is_trimmed() {
    assert_eq!(
        parse_client_frame(&say("  hello \n\t")),
        Ok(message("hello"))
    );
    assert_eq!(
        parse_client_frame(&say(" two  words ")),
        Ok(message("two  words"))
    );
}

#[test]
fn unknown_extra_fields_are_ignored() {
    assert_eq!(
        parse_client_frame(r#"{"type":"message","text":"hi","colour":"red","n":1}"#),
        Ok(message("hi"))
    );
}

#[test]
fn text_that_is_not_json_is_bad_json() {
    assert_refused("hello", "bad_json");
    assert_refused("", "bad_json");
    assert_refused(r#"{"type":"message","text":"hi""#, "bad_json");
}

#[test]
fn an_array_is_bad_json_even_though_serde_would_take_it() {
    assert_refused(r#"["message", "hi"]"#, "bad_json");
    assert_refused(r#"[{"type":"message","text":"hi"}]"#, "bad_json");
    assert_refused("[]", "bad_json");
}

#[test]
fn json_that_is_not_an_object_is_bad_json() {
    assert_refused(r#""message""#, "bad_json");
    assert_refused("42", "bad_json");
    assert_refused("true", "bad_json");
    assert_refused("null", "bad_json");
}

#[test]
fn an_object_without_a_type_is_unknown_type() {
    assert_refused(r#"{"text":"hi"}"#, "unknown_type");
    assert_refused("{}", "unknown_type");
}

#[test]
fn a_type_that_is_not_a_string_is_unknown_type() {
    assert_refused(r#"{"type":1,"text":"hi"}"#, "unknown_type");
    assert_refused(r#"{"type":null,"text":"hi"}"#, "unknown_type");
    assert_refused(r#"{"type":["message"],"text":"hi"}"#, "unknown_type");
}

#[test]
fn an_unknown_type_is_unknown_type_even_with_bad_fields() {
    assert_refused(r#"{"type":"shout","text":"hi"}"#, "unknown_type");
    assert_refused(r#"{"type":"Message","text":"hi"}"#, "unknown_type");
    // Types of later steps are unknown to this one; their fields do not matter.
    assert_refused(r#"{"type":"join","room":"rust"}"#, "unknown_type");
    assert_refused(r#"{"type":"ping"}"#, "unknown_type");
}

#[test]
fn a_message_without_text_is_bad_request() {
    assert_refused(r#"{"type":"message"}"#, "bad_request");
    assert_refused(r#"{"type":"message","txt":"hi"}"#, "bad_request");
}

#[test]
fn text_of_the_wrong_kind_is_bad_request() {
    assert_refused(r#"{"type":"message","text":5}"#, "bad_request");
    assert_refused(r#"{"type":"message","text":null}"#, "bad_request");
    assert_refused(r#"{"type":"message","text":["hi"]}"#, "bad_request");
    assert_refused(r#"{"type":"message","text":{"body":"hi"}}"#, "bad_request");
}

#[test]
fn empty_or_blank_text_is_empty_text() {
    assert_eq!(parse_client_frame(&say("")), Err(ProtocolError::EmptyText));
    assert_eq!(
        parse_client_frame(&say(" \n\t\u{3000} ")),
        Err(ProtocolError::EmptyText)
    );
}

#[test]
fn text_over_the_limit_is_text_too_long_with_its_length() {
    let too_long = "a".repeat(MAX_TEXT_CHARS + 1);
    assert_eq!(
        parse_client_frame(&say(&too_long)),
        Err(ProtocolError::TextTooLong {
            chars: MAX_TEXT_CHARS + 1
        })
    );
}

#[test]
fn the_limit_counts_characters_not_bytes() {
    // 4000 `é` are 8000 bytes of UTF-8 and exactly the limit.
    let longest = "é".repeat(MAX_TEXT_CHARS);
    assert_eq!(parse_client_frame(&say(&longest)), Ok(message(&longest)));
    let crabs = "🦀".repeat(MAX_TEXT_CHARS + 1);
    assert_eq!(
        parse_client_frame(&say(&crabs)),
        Err(ProtocolError::TextTooLong {
            chars: MAX_TEXT_CHARS + 1
        })
    );
}

#[test]
fn the_limit_applies_after_trimming() {
    let longest = "a".repeat(MAX_TEXT_CHARS);
    let padded = format!("   {longest}   ");
    assert_eq!(parse_client_frame(&say(&padded)), Ok(message(&longest)));
}
