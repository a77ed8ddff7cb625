//! What counts as a user name: the rule PROTOCOL.md states for every step.

/// The longest name, in characters (not bytes: `Zoë` is 3 characters, 4 bytes).
pub const MAX_NAME_CHARS: usize = 32;

/// What a user is told when a name is refused.
pub const NAME_RULE: &str = "a name is 1 to 32 letters, digits, '_', '-' or '.'";

// ANCHOR: is_valid_name
/// True if `name` follows the rule: 1 to 32 characters, each a Unicode letter or digit
/// or one of `_`, `-`, `.`. Spaces and `:` are refused, so no name can make a line look
/// like a message from someone else.
pub fn is_valid_name(name: &str) -> bool {
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
    let length = name.chars().count();
    (1..=MAX_NAME_CHARS).contains(&length) && name.chars().all(allowed)
}
// ANCHOR_END: is_valid_name

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
