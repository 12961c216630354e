//! Text that came from outside (city names, weather descriptions, icon codes) made safe to
//! draw, and folded for searching. Owns no state and does no I/O.

/// Longest text kept, in characters: a name is a label, not a payload, and a huge one must not
/// cost the UI anything.
pub const MAX_CHARS: usize = 80;

/// `text` made printable ([`crate::text::printable`]: no control characters, escape
/// sequences or invisible formatting characters, whitespace collapsed, trimmed), then cut to
/// at most [`MAX_CHARS`] characters.
///
/// A city name is written by whoever fed Kafka; drawn as is, an escape sequence in it could
/// move the cursor, change the window title or recolour the screen.
pub fn clean(text: &str) -> String {
    crate::text::printable(text)
        .chars()
        .take(MAX_CHARS)
        .collect()
}

/// `text` as a search key: lower case, no accents, hyphens and apostrophes as spaces
/// ([`crate::text::fold_name`], shared with the city list), so "saint etienne" finds
/// "Saint-Étienne".
pub fn fold(text: &str) -> String {
    crate::text::fold_name(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_unchanged() {
        assert_eq!(clean("Saint-Étienne"), "Saint-Étienne");
        assert_eq!(clean("L'Haÿ-les-Roses"), "L'Haÿ-les-Roses");
    }

    #[test]
    fn csi_and_osc_sequences_are_removed_whole() {
        assert_eq!(clean("\x1b[2J\x1b[31mParis\x1b[0m"), "Paris");
        assert_eq!(clean("\x1b]0;pwned\x07Lyon"), "Lyon");
        assert_eq!(clean("\x1b]8;;http://x\x1b\\Nice\x1b]8;;\x1b\\"), "Nice");
        assert_eq!(clean("\x1bPq#0;2;0;0;0\x1b\\Brest"), "Brest");
        assert_eq!(clean("\x1b(BNantes\x1bc"), "Nantes");
    }

    #[test]
    fn eight_bit_controls_and_their_sequences_are_removed() {
        assert_eq!(clean("\u{9b}31mLille\u{9d}title\u{9c}"), "Lille");
        assert_eq!(clean("Metz\u{85}\u{80}"), "Metz");
    }

    #[test]
    fn control_characters_and_invisible_marks_are_removed() {
        assert_eq!(clean("Pa\x08\x07ris\x7f"), "Paris");
        assert_eq!(clean("\u{202e}nimes\u{200b}\u{feff}"), "nimes");
    }

    #[test]
    fn whitespace_runs_become_one_space_and_ends_are_trimmed() {
        assert_eq!(clean("  Aix\n\ten\r\nProvence  "), "Aix en Provence");
    }

    #[test]
    fn an_unterminated_sequence_swallows_only_itself() {
        assert_eq!(clean("Caen\x1b["), "Caen");
        assert_eq!(clean("Caen\x1b]0;never ends"), "Caen");
    }

    #[test]
    fn long_text_is_cut() {
        assert_eq!(clean(&"x".repeat(10_000)).chars().count(), MAX_CHARS);
    }

    #[test]
    fn folding_ignores_case_accents_and_hyphens() {
        assert_eq!(fold("Saint-Étienne"), "saint etienne");
        assert_eq!(fold("ORLÉANS"), "orleans");
        assert_eq!(fold("Cœur"), "coeur");
        assert_eq!(fold("E\u{301}vreux"), "evreux");
    }
}
