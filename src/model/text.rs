//! The one rule for text that enters meteo from outside (a city's name, a weather
//! description, any text field of a reading), applied at every door: `meteo cities` reading
//! OpenWeatherMap's list, the producer (its city list, both sources), the consumer. [`clean`]
//! is what the first two make of a text; [`check`] is what the consumer accepts: exactly the
//! text [`clean`] leaves, so a reading meteo publishes is never dead-lettered by meteo.
//! Pure; depends on nothing.
//!
//! Per class of character:
//! - whitespace of any kind (tab, line breaks, U+2028/U+2029, no-break spaces): one space
//!   between words, none at the ends;
//! - C1 controls (U+0080–U+009F): dropped. In names they are the residue of a bad
//!   decoding of Windows-1252 (the real list's `Mons-en-Barœ\u{9c}ul`, whose 0x9C is the
//!   `œ` before it), and alone they control nothing;
//! - invisible characters (Unicode's default-ignorables: soft hyphen, zero-width characters,
//!   bidi controls, variation selectors, the Hangul fillers, tag characters; and the
//!   interlinear annotation marks): dropped. They hide or reorder what is shown, or show
//!   nothing (a name of U+3164 alone looks blank); the letters around them are the text;
//! - other controls (C0 such as ESC and BEL, DEL): the text is refused. Escape sequences
//!   have no clear meaning to keep, and dropping the ESC would leave their tail as text;
//! - text that is blank once cleaned, or longer than its field allows: refused.

use std::borrow::Cow;

/// Why a text is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextProblem {
    #[error("holds control characters")]
    Controls,
    #[error("is blank")]
    Blank,
    #[error("is longer than {0} characters")]
    TooLong(usize),
    /// Only from [`check`]: what [`clean`] would have dropped.
    #[error("holds invisible characters (zero-width, bidi controls, variation selectors, tags, fillers)")]
    Invisible,
    /// Only from [`check`]: what [`clean`] would have turned into one space.
    #[error("holds spacing other than one space between words")]
    Spacing,
}

/// What the rule does with one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Keep,
    Space,
    Drop,
    Refuse,
}

fn class(c: char) -> Class {
    if c.is_whitespace() {
        // Before the controls: tab, line feed and NEL (U+0085) are both.
        Class::Space
    } else if ('\u{80}'..='\u{9f}').contains(&c) || is_invisible(c) {
        Class::Drop
    } else if c.is_control() {
        Class::Refuse
    } else {
        Class::Keep
    }
}

/// Characters that show nothing or change how the text around them is shown: Unicode's
/// Default_Ignorable_Code_Point (DerivedCoreProperties.txt) plus the interlinear annotation
/// marks (U+FFF9–U+FFFB).
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Whether [`clean`] drops `c` (a C1 control or an invisible character): searches fold it
/// away too.
pub fn is_dropped(c: char) -> bool {
    class(c) == Class::Drop
}

/// `text` as meteo passes it on: whitespace made single spaces and trimmed, C1 controls and
/// invisible characters dropped; refused when it holds other controls, or is blank or longer
/// than `max_chars` once cleaned. Borrowed when the text was clean already (the common case).
pub fn clean(text: &str, max_chars: usize) -> Result<Cow<'_, str>, TextProblem> {
    if check(text, max_chars).is_ok() {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut space_pending = false;
    for c in text.chars() {
        match class(c) {
            Class::Keep => {
                if space_pending && !out.is_empty() {
                    out.push(' ');
                }
                space_pending = false;
                out.push(c);
            }
            Class::Space => space_pending = true,
            Class::Drop => {}
            Class::Refuse => return Err(TextProblem::Controls),
        }
    }
    if out.is_empty() {
        return Err(TextProblem::Blank);
    }
    if out.chars().count() > max_chars {
        return Err(TextProblem::TooLong(max_chars));
    }
    Ok(Cow::Owned(out))
}

/// Whether `text` is exactly what [`clean`] leaves, and if not the first reason: the
/// consumer's rule. `check(t).is_ok()` if and only if `clean(t) == Ok(t)`.
pub fn check(text: &str, max_chars: usize) -> Result<(), TextProblem> {
    let mut chars = 0;
    let mut previous_space = true; // no space at the start
    let mut spacing = false;
    let mut dropped = None;
    for c in text.chars() {
        chars += 1;
        match class(c) {
            Class::Keep => previous_space = false,
            Class::Space => {
                spacing |= c != ' ' || previous_space;
                previous_space = true;
            }
            Class::Drop => {
                // A C1 control is a control character to whoever reads the reason.
                let problem = if c.is_control() {
                    TextProblem::Controls
                } else {
                    TextProblem::Invisible
                };
                dropped.get_or_insert(problem);
            }
            Class::Refuse => return Err(TextProblem::Controls),
        }
    }
    if let Some(problem) = dropped {
        return Err(problem);
    }
    if chars == 0 || text.chars().all(|c| class(c) == Class::Space) {
        return Err(TextProblem::Blank);
    }
    if spacing || previous_space {
        return Err(TextProblem::Spacing);
    }
    if chars > max_chars {
        return Err(TextProblem::TooLong(max_chars));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const MAX: usize = 200;

    fn cleaned(text: &str) -> Result<String, TextProblem> {
        clean(text, MAX).map(Cow::into_owned)
    }

    #[test]
    fn the_c1_control_of_the_real_list_is_dropped() {
        assert_eq!(cleaned("Mons-en-Barœ\u{9c}ul").unwrap(), "Mons-en-Barœul");
        assert_eq!(
            check("Mons-en-Barœ\u{9c}ul", MAX),
            Err(TextProblem::Controls)
        );
    }

    #[test]
    fn invisible_characters_are_dropped_and_named_by_the_check() {
        for (dirty, clean) in [
            ("Par\u{202E}is", "Paris"),
            ("Pa\u{200B}ris", "Paris"),
            ("\u{2066}Paris\u{2069}", "Paris"),
            ("Paris\u{FEFF}", "Paris"),
            ("Lyon\u{034F}", "Lyon"),
            ("Nice\u{FE0F}", "Nice"),
            ("Brest\u{E0067}\u{E0062}\u{E007F}", "Brest"),
            ("Caen\u{E0100}", "Caen"),
            ("Ly\u{3164}on", "Lyon"),
            ("Sa\u{00AD}int", "Saint"),
        ] {
            assert_eq!(cleaned(dirty).unwrap(), clean, "{dirty:?}");
            assert_eq!(check(dirty, MAX), Err(TextProblem::Invisible), "{dirty:?}");
        }
    }

    #[test]
    fn whitespace_of_any_kind_becomes_one_space_between_words() {
        for dirty in [
            "Saint  Denis",
            " Saint Denis",
            "Saint Denis ",
            "Saint\u{2028}Denis",
            "Saint\tDenis",
            "Saint\r\nDenis",
            "Saint\u{85}Denis",
            "Saint\u{A0}Denis",
            "Saint \u{200B} Denis",
        ] {
            assert_eq!(cleaned(dirty).unwrap(), "Saint Denis", "{dirty:?}");
            assert!(check(dirty, MAX).is_err(), "{dirty:?}");
        }
        assert_eq!(check("Saint\u{2028}Denis", MAX), Err(TextProblem::Spacing));
    }

    #[test]
    fn text_blank_once_cleaned_is_refused() {
        for blank in [
            "",
            " ",
            "\u{3164}",
            "\u{200B}\u{FE0F}",
            "\u{E0020}",
            "\u{9c}",
            "\t\u{2028}",
        ] {
            assert_eq!(cleaned(blank), Err(TextProblem::Blank), "{blank:?}");
            assert!(check(blank, MAX).is_err(), "{blank:?}");
        }
    }

    #[test]
    fn other_controls_refuse_the_text() {
        for dirty in [
            "Paris\u{1b}[2J",
            "a\u{7}",
            "Lyon\u{7f}",
            "\u{0}",
            "\u{1b}]0;x\u{7}Nice",
        ] {
            assert_eq!(cleaned(dirty), Err(TextProblem::Controls), "{dirty:?}");
            assert_eq!(check(dirty, MAX), Err(TextProblem::Controls), "{dirty:?}");
        }
    }

    #[test]
    fn length_is_counted_in_characters_once_cleaned() {
        assert_eq!(cleaned(&"é".repeat(MAX)).unwrap().chars().count(), MAX);
        assert_eq!(
            cleaned(&"é".repeat(MAX + 1)),
            Err(TextProblem::TooLong(MAX))
        );
        let padded = format!("{}\u{200B}\u{200B}", "x".repeat(MAX));
        assert_eq!(cleaned(&padded).unwrap(), "x".repeat(MAX));
    }

    #[test]
    fn clean_text_is_kept_as_it_is_without_a_copy() {
        for fine in [
            "Saint-Étienne",
            "L’Haÿ-les-Roses",
            "Zürich",
            "東京",
            "Œuilly",
            "a b",
        ] {
            assert!(matches!(clean(fine, MAX), Ok(Cow::Borrowed(t)) if t == fine));
            assert_eq!(check(fine, MAX), Ok(()));
        }
    }

    /// Characters of every class, and the ones next to their edges.
    pub(crate) const PALETTE: &[char] = &[
        'a',
        'Z',
        'é',
        'œ',
        'Œ',
        'ß',
        'æ',
        '-',
        '\'',
        '’',
        '東',
        '\u{301}',
        ' ',
        '\t',
        '\n',
        '\r',
        '\u{85}',
        '\u{A0}',
        '\u{2028}',
        '\u{2029}',
        '\u{3000}',
        '\u{80}',
        '\u{9b}',
        '\u{9c}',
        '\u{9f}',
        '\u{A1}',
        '\u{1b}',
        '\u{7}',
        '\u{0}',
        '\u{7f}',
        '\u{AD}',
        '\u{34F}',
        '\u{200B}',
        '\u{200D}',
        '\u{202E}',
        '\u{2066}',
        '\u{2069}',
        '\u{2070}',
        '\u{3164}',
        '\u{FE00}',
        '\u{FE0F}',
        '\u{FE10}',
        '\u{FEFF}',
        '\u{FFA0}',
        '\u{FFF9}',
        '\u{FFFC}',
        '\u{FFFD}',
        '\u{E0001}',
        '\u{E0041}',
        '\u{E007F}',
        '\u{E0100}',
        '\u{E01EF}',
        '\u{F0000}',
        '\u{1F600}',
    ];

    /// A text of up to `max_len` characters drawn from [`PALETTE`].
    pub(crate) fn arbitrary_text(rng: &mut impl rand::Rng, max_len: usize) -> String {
        use rand::RngExt;
        let len = rng.random_range(0..=max_len);
        (0..len)
            .map(|_| PALETTE[rng.random_range(0..PALETTE.len())])
            .collect()
    }

    #[test]
    fn what_clean_makes_passes_the_check_and_the_check_passes_only_that() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(26);
        for _ in 0..50_000 {
            let text = arbitrary_text(&mut rng, 12);
            let max = 8;
            match clean(&text, max) {
                Ok(out) => {
                    assert_eq!(check(&out, max), Ok(()), "{text:?} -> {out:?}");
                    assert_eq!(clean(&out, max).as_deref(), Ok(&*out), "{out:?}");
                    assert_eq!(check(&text, max).is_ok(), out == text, "{text:?}");
                }
                Err(problem) => {
                    assert!(check(&text, max).is_err(), "{text:?}: {problem}");
                }
            }
        }
    }
}
