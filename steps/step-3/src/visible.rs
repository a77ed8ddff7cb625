//! Text from one client, made safe to show in the others' terminals.
//!
//! A terminal obeys the control characters in what it prints. A carriage return (`\r`)
//! moves back to the start of the line, so `hi\rbob: I owe carol $100` would show as a
//! line from bob. A line feed inside a WebSocket frame (step 3) starts a new line that can
//! name anyone. An escape sequence can erase a line, move the cursor or change colours. A
//! relayed line must show what its sender typed, not do what it says.

/// `text` with every control character replaced by a visible stand-in: the symbol
/// Unicode keeps for it (`\r` becomes `␍`, escape `␛`, a tab `␉`), or `�` for the
/// controls that have none.
pub fn visible(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            // The Control Pictures block has a symbol for each C0 control, in order...
            '\0'..='\x1f' => char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}'),
            // ...and one for DEL.
            '\x7f' => '\u{2421}',
            // The C1 controls (U+0080 to U+009F), which some terminals obey too.
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(
            visible("hi\rbob: I owe carol $100"),
            "hi␍bob: I owe carol $100"
        );
        assert_eq!(visible("\x1b[2Kgone"), "␛[2Kgone");
        assert_eq!(visible("a\tb\nc\0d\x7fe\u{9b}f"), "a␉b␊c␀d␡e�f");
    }

    #[test]
    fn everything_else_is_kept_as_it_is() {
        let text = "Zoë says 名前 <b>&</b> 🦀 ␍";
        assert_eq!(visible(text), text);
    }
}
