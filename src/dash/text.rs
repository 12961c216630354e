//! Text that came from outside (city names, weather descriptions, icon codes) made safe to
//! draw, and folded for searching. Owns no state and does no I/O.

/// Longest text kept, in characters: a name is a label, not a payload, and a huge one must not
/// cost the UI anything.
pub const MAX_CHARS: usize = 80;

const ESC: char = '\u{1b}';
const BEL: char = '\u{07}';
/// The 8-bit String Terminator.
const ST: char = '\u{9c}';

/// `text` without control characters, escape sequences or invisible formatting characters,
/// whitespace runs collapsed to one space, trimmed, at most [`MAX_CHARS`] characters.
///
/// A city name is written by whoever fed Kafka; drawn as is, an escape sequence in it could
/// move the cursor, change the window title or recolour the screen. This removes every
/// control character and every escape sequence (ECMA-48: CSI, OSC, DCS and the other string
/// controls, in their 7-bit and 8-bit forms) and the invisible characters that reorder or hide
/// text (bidi overrides, zero-width marks).
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS * 4));
    let mut kept = 0;
    let mut space_pending = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let visible = match c {
            ESC => {
                skip_escape(&mut chars);
                None
            }
            // 8-bit CSI: parameters and a final byte follow.
            '\u{9b}' => {
                skip_csi(&mut chars);
                None
            }
            // 8-bit DCS, SOS, OSC, PM, APC: a string up to ST or BEL follows.
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => {
                skip_string(&mut chars);
                None
            }
            c if c.is_whitespace() => {
                space_pending = true;
                None
            }
            c if c.is_control() || is_invisible(c) => None,
            c => Some(c),
        };
        if let Some(c) = visible {
            if space_pending && !out.is_empty() {
                out.push(' ');
                kept += 1;
            }
            space_pending = false;
            if kept >= MAX_CHARS {
                break;
            }
            out.push(c);
            kept += 1;
        }
    }
    out
}

/// Characters that are not controls but change how the text around them is shown: bidi
/// embeddings, overrides and isolates (they can make a name read backwards), zero-width
/// characters, the byte-order mark, interlinear annotations.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}')
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string(chars),
        // nF sequences: intermediate bytes, then one final byte (ESC ( B, ESC # 8).
        Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
            while chars
                .next_if(|c| ('\u{20}'..='\u{2f}').contains(c))
                .is_some()
            {}
            chars.next();
        }
        // Two-character sequences (ESC c, ESC 7, ESC M): the one character is gone already.
        _ => {}
    }
}

/// Skips CSI parameter (0x30–0x3F) and intermediate (0x20–0x2F) bytes and the final byte.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars
        .next_if(|c| ('\u{20}'..='\u{3f}').contains(c))
        .is_some()
    {}
    if chars
        .peek()
        .is_some_and(|c| ('\u{40}'..='\u{7e}').contains(c))
    {
        chars.next();
    }
}

/// Skips a control string up to its terminator: BEL, ST, or ESC \.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            BEL | ST => return,
            ESC => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
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
