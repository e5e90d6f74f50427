//! Text normalisation shared by indexing and querying.

/// Lower-cases, folds Latin accents (`é` → `e`, `ß` → `ss`), drops
/// apostrophes (`Charcot's` → `charcots`) and turns every other character
/// that is not a letter or digit into a space.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if ch == '\'' || ch == '\u{2019}' {
            // "Charcot's" is one word.
        } else if ch.is_ascii() {
            out.push(' ');
        } else if let Some(f) = fold(ch) {
            out.push_str(f);
        } else if ch.is_alphanumeric() {
            out.extend(ch.to_lowercase());
        } else {
            out.push(' ');
        }
    }
    out
}

/// The words of a text, normalised.
#[cfg(test)]
pub fn words(s: &str) -> Vec<String> {
    normalize(s).split_ascii_whitespace().map(str::to_string).collect()
}

fn fold(ch: char) -> Option<&'static str> {
    Some(match ch {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'ā' | 'Ā' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'Ç' | 'č' | 'Č' | 'ć' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' | 'ē' | 'ě' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' | 'ń' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'ő' => "o",
        'œ' | 'Œ' => "oe",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' | 'ű' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        'ß' => "ss",
        'š' | 'Š' | 'ś' => "s",
        'ž' | 'Ž' | 'ź' | 'ż' => "z",
        'ł' | 'Ł' => "l",
        'ř' => "r",
        'α' => "alpha",
        'β' => "beta",
        'γ' => "gamma",
        'δ' => "delta",
        'κ' => "kappa",
        'λ' => "lambda",
        'μ' | 'µ' => "mu",
        _ => return None,
    })
}

/// A code as the index keys it: upper case, without dots and spaces
/// (`e11.9` → `E119`).
pub fn code_key(code: &str) -> String {
    code.chars().filter(|c| *c != '.' && !c.is_whitespace()).flat_map(char::to_uppercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_and_splits() {
        assert_eq!(words("Sézary disease"), ["sezary", "disease"]);
        assert_eq!(words("Charcôt's arthropathy (tabetic)"), ["charcots", "arthropathy", "tabetic"]);
        assert_eq!(words("Type 2 diabetes mellitus, E11.9"), ["type", "2", "diabetes", "mellitus", "e11", "9"]);
        assert_eq!(words("Gerstmann-Sträussler"), ["gerstmann", "straussler"]);
        assert_eq!(code_key(" e11.9"), "E119");
    }
}
