//! Text as people search for it: folding names so that a search ignores case, accents,
//! hyphens and apostrophes (the city list's filters and duplicates, the dashboard's search).

/// A name as people search for it: lower case, without accents, with hyphens, apostrophes
/// and runs of spaces turned into one space. `Saint-Étienne` and `saint  etienne` both fold
/// to `saint etienne`.
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
    fn folding_ignores_case_accents_and_hyphens() {
        assert_eq!(fold_name("Saint-Étienne"), "saint etienne");
        assert_eq!(fold_name("  saint   etienne "), "saint etienne");
        assert_eq!(fold_name("L'Haÿ-les-Roses"), "l hay les roses");
        assert_eq!(fold_name("ÎLE-DE-FRANCE"), "ile de france");
        assert_eq!(fold_name("Œuilly"), "oeuilly");
        assert_eq!(fold_name("Łódź"), "lodz");
        assert_eq!(fold_name("Gorkhā"), "gorkha");
    }

    #[test]
    fn folding_drops_combining_accents_of_decomposed_text() {
        assert_eq!(fold_name("Saint-E\u{301}tienne"), "saint etienne");
    }

    #[test]
    fn folding_leaves_other_scripts_lower_cased() {
        assert_eq!(fold_name("Москва"), "москва");
    }
}
