//! What counts as a user name and as a room name: the rules PROTOCOL.md states.

/// The longest name, in characters (not bytes: `Zoë` is 3 characters, 4 bytes).
pub const MAX_NAME_CHARS: usize = 32;

/// What a user is told when a name is refused.
pub const NAME_RULE: &str = "a name is 1 to 32 letters, digits, '_', '-' or '.'";

/// True if `name` follows the rule: 1 to 32 characters, each a Unicode letter or digit
/// or one of `_`, `-`, `.`. Spaces and `:` are refused, so no name can make a line look
/// like a message from someone else.
pub fn is_valid_name(name: &str) -> bool {
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
    let length = name.chars().count();
    (1..=MAX_NAME_CHARS).contains(&length) && name.chars().all(allowed)
}

/// The longest room name, in characters (all ASCII, so also in bytes).
pub const MAX_ROOM_CHARS: usize = 64;

/// What a user is told when a room name is refused.
pub const ROOM_RULE: &str = "a room name is 1 to 64 lower-case ASCII letters, digits, '_' or '-'";

/// True if `room` follows the rule: 1 to 64 characters, each an ASCII lower-case letter,
/// a digit, `_` or `-`. Much stricter than user names, because a room name travels in
/// URLs (`/api/rooms/ROOM/members`): no case to fold, nothing to escape, no `.` or `..`
/// to look like a path, and one spelling per room.
pub fn is_valid_room_name(room: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-');
    (1..=MAX_ROOM_CHARS).contains(&room.len()) && room.bytes().all(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_and_the_three_marks_in_any_script() {
        for name in ["alice", "Bob_2", "a.b-c", "Zoë", "名前", "x"] {
            assert!(is_valid_name(name), "{name:?}");
        }
        assert!(is_valid_name(&"é".repeat(MAX_NAME_CHARS)));
    }

    #[test]
    fn room_names_are_lower_case_ascii_digits_and_two_marks() {
        let longest = "r".repeat(MAX_ROOM_CHARS);
        for room in ["general", "rust", "rust-2024", "a_b", "0", longest.as_str()] {
            assert!(is_valid_room_name(room), "{room:?}");
        }
        let too_long = "r".repeat(MAX_ROOM_CHARS + 1);
        for room in [
            "", "Rust", "a b", "..", "a.b", "a/b", "café", "%20", &too_long,
        ] {
            assert!(!is_valid_room_name(room), "{room:?}");
        }
    }

    #[test]
    fn refuses_empty_long_and_punctuated_names() {
        let too_long = "a".repeat(MAX_NAME_CHARS + 1);
        for name in [
            "",
            " ",
            "alice smith",
            "bob:",
            "*",
            "a/b",
            "tab\t",
            &too_long,
        ] {
            assert!(!is_valid_name(name), "{name:?}");
        }
    }
}
