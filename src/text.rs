//! Text from outside made safe to print ([`printable`]), and names folded for searches
//! ([`fold_name`]). Pure; the invisible characters are those of the text rule
//! ([`crate::model::text`]), the only thing of meteo used here.

/// `text` from outside (an API's error message, a city name) made safe for a terminal, on one
/// line: escape sequences removed whole (ECMA-48 CSI, OSC, DCS and the other string controls,
/// 7-bit and 8-bit), other control characters and the invisible characters that reorder or hide
/// text (bidi overrides, zero-width marks) removed, whitespace runs turned into one space,
/// ends trimmed. Printed as is, an escape sequence could retitle the window, clear the screen
/// or hide what follows.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space_pending = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ESC => skip_escape(&mut chars),
            // 8-bit CSI: parameters and a final byte follow.
            '\u{9b}' => skip_csi(&mut chars),
            // 8-bit DCS, SOS, OSC, PM, APC: a string up to ST or BEL follows.
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if c.is_whitespace() => space_pending = true,
            c if c.is_control() || is_invisible(c) => {}
            c => {
                if space_pending && !out.is_empty() {
                    out.push(' ');
                }
                space_pending = false;
                out.push(c);
            }
        }
    }
    out
}

const ESC: char = '\u{1b}';
const BEL: char = '\u{07}';
/// The 8-bit String Terminator.
const ST: char = '\u{9c}';

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Characters that are not controls but change how the text around them is shown (bidi
/// controls, zero-width characters, the byte-order mark...): the text rule's.
fn is_invisible(c: char) -> bool {
    crate::model::text::is_invisible(c)
}

/// Skips what follows an ESC.
fn skip_escape(chars: &mut Chars<'_>) {
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
fn skip_csi(chars: &mut Chars<'_>) {
    while chars
        .next_if(|c| ('\u{20}'..='\u{3f}').contains(c))
        .is_some()
    {}
    chars.next_if(|c| ('\u{40}'..='\u{7e}').contains(c));
}

/// Skips a control string up to its terminator: BEL, ST, or ESC \.
fn skip_string(chars: &mut Chars<'_>) {
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

/// A name as people search for it: lower case, without accents, with hyphens, apostrophes
/// and runs of spaces turned into one space, without the characters the text rule drops.
/// `Saint-Étienne` and `saint  etienne` both fold to `saint etienne`; the ligatures are
/// their letters (`œ`/`oe`, `æ`/`ae`, `ß`/`ss`), so `Mons-en-Barœul` is `Mons-en-Baroeul`.
///
/// Accents are removed by a table of the Latin letters (Latin-1 and Latin Extended-A, which
/// cover French and the other European languages of the list) plus the combining marks of
/// decomposed text; other scripts are only lower-cased. That is all `--name` and the
/// duplicate rule need, without a Unicode normalisation crate.
pub fn fold_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_space = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if is_separator(c) {
            pending_space = !out.is_empty();
            continue;
        }
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue; // a combining accent of decomposed (NFD) text
        }
        if crate::model::text::is_dropped(c) {
            continue; // shows nothing: `Barœ\u{9c}ul` is `Barœul`
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        match unaccent(c) {
            Some(plain) => out.push_str(plain),
            None => out.push(c),
        }
    }
    out
}

/// `text` in ASCII, for a terminal whose locale is not UTF-8: accented Latin letters lose
/// their accents (é->e, ç->c, œ->oe, ß->ss, by the table [`fold_name`] uses), case kept;
/// typographic quotes and dashes become their ASCII forms; any other character is `?`, so
/// nothing undrawable reaches the screen and the width stays one column a letter.
pub fn to_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue; // a combining accent of decomposed (NFD) text
        }
        let lower = c.to_lowercase().next().unwrap_or(c);
        if let Some(plain) = unaccent(lower) {
            if lower == c {
                out.push_str(plain);
            } else {
                // An upper-case letter: Œ->OE, É->E.
                out.push_str(&plain.to_uppercase());
            }
            continue;
        }
        out.push(match c {
            '\u{2018}' | '\u{2019}' | '\u{2032}' => '\'',
            '\u{201c}' | '\u{201d}' | '\u{ab}' | '\u{bb}' => '"',
            '\u{2010}'..='\u{2015}' => '-',
            '\u{a0}' | '\u{202f}' => ' ',
            _ => '?',
        });
    }
    out
}

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '\u{2010}'
                | '\u{2011}'
                | '\u{2013}'
                | '\u{2014}'
                | '_'
                | '\''
                | '\u{2019}'
                | '`'
                | '.'
                | ','
        )
}

/// The plain letters of a lower-case accented Latin letter.
fn unaccent(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' | 'ĸ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' | 'ŋ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ſ' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_keeps_what_can_be_read() {
        assert_eq!(printable("Saint-Étienne"), "Saint-Étienne");
        assert_eq!(
            printable("Invalid API key. Please see https://x/faq#error401 for more info."),
            "Invalid API key. Please see https://x/faq#error401 for more info."
        );
    }

    #[test]
    fn printable_text_loses_escape_sequences_whole() {
        assert_eq!(printable("\x1b[2J\x1b[31mParis\x1b[0m"), "Paris");
        assert_eq!(printable("\x1b]0;pwned\x07Lyon"), "Lyon");
        assert_eq!(
            printable("\x1b]8;;http://x\x1b\\Nice\x1b]8;;\x1b\\"),
            "Nice"
        );
        assert_eq!(printable("\x1bPq#0;2;0;0;0\x1b\\Brest"), "Brest");
        assert_eq!(printable("\x1b(BNantes\x1bc"), "Nantes");
        assert_eq!(printable("\u{9b}31mLille\u{9d}title\u{9c}"), "Lille");
        assert_eq!(printable("Caen\x1b]0;never ends"), "Caen");
    }

    #[test]
    fn printable_text_is_one_line_without_controls_or_invisible_marks() {
        assert_eq!(printable("Pa\x08\x07ris\x7f\u{85}"), "Paris");
        assert_eq!(printable("\u{202e}nimes\u{200b}\u{feff}"), "nimes");
        assert_eq!(
            printable("  bad\r\nmeteo: all is fine\t "),
            "bad meteo: all is fine"
        );
    }

    #[test]
    fn folding_ignores_case_accents_and_hyphens() {
        assert_eq!(fold_name("Saint-Étienne"), "saint etienne");
        assert_eq!(fold_name("  saint   etienne "), "saint etienne");
        assert_eq!(fold_name("L'Haÿ-les-Roses"), "l hay les roses");
        assert_eq!(fold_name("ÎLE-DE-FRANCE"), "ile de france");
        assert_eq!(fold_name("Œuilly"), "oeuilly");
        assert_eq!(fold_name("Mons-en-Barœul"), fold_name("Mons-en-Baroeul"));
        assert_eq!(fold_name("Æbeltoft"), fold_name("aebeltoft"));
        assert_eq!(fold_name("Großenhain"), fold_name("Grossenhain"));
        assert_eq!(fold_name("GROẞENHAIN"), fold_name("grossenhain"));
        assert_eq!(fold_name("Łódź"), "lodz");
        assert_eq!(fold_name("Gorkhā"), "gorkha");
    }

    #[test]
    fn folding_drops_combining_accents_of_decomposed_text() {
        assert_eq!(fold_name("Saint-E\u{301}tienne"), "saint etienne");
    }

    #[test]
    fn folding_ignores_what_the_text_rule_drops() {
        assert_eq!(fold_name("Mons-en-Barœ\u{9c}ul"), "mons en baroeul");
        assert_eq!(fold_name("Pa\u{200B}ris\u{FE0F}\u{E0041}"), "paris");
    }

    #[test]
    fn ascii_transliterates_latin_letters_keeps_case_and_marks_the_rest() {
        assert_eq!(to_ascii("Alençon"), "Alencon");
        assert_eq!(to_ascii("pluie modérée"), "pluie moderee");
        assert_eq!(to_ascii("ÉVREUX"), "EVREUX");
        assert_eq!(to_ascii("Œuilly"), "OEuilly");
        assert_eq!(to_ascii("Straße"), "Strasse");
        assert_eq!(to_ascii("L\u{2019}Haÿ-les-Roses"), "L'Hay-les-Roses");
        assert_eq!(to_ascii("Saint-E\u{301}tienne"), "Saint-Etienne");
        assert_eq!(to_ascii("Москва"), "??????");
        assert_eq!(to_ascii("Paris"), "Paris");
    }

    #[test]
    fn folding_leaves_other_scripts_lower_cased() {
        assert_eq!(fold_name("Москва"), "москва");
    }
}
