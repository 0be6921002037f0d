//! `analyze_content`: deterministic checks of a text against a brand voice: length,
//! readability, keyword density and compliance (banned phrases, required terms). Every text
//! capability's output goes through the same compliance rules.

use serde::Serialize;

use crate::domain::resources::BrandVoice;

/// What the analysis found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContentAnalysis {
    /// Words in the text.
    pub words: i64,
    /// Sentences in the text.
    pub sentences: i64,
    /// Flesch reading ease, in tenths (655 = 65.5; higher is easier), clamped to 0..=1000.
    pub readability_tenths: i64,
    /// Occurrences of each keyword per thousand words.
    pub keyword_density_per_mille: Vec<KeywordDensity>,
    /// Brand-voice compliance.
    pub compliance: Compliance,
}

/// One keyword's density.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeywordDensity {
    /// The keyword.
    pub keyword: String,
    /// Occurrences.
    pub count: i64,
    /// Occurrences per thousand words.
    pub per_mille: i64,
}

/// Whether a text keeps the brand's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Compliance {
    /// Banned phrases the text contains.
    pub banned_phrases_found: Vec<String>,
    /// Required terms the text lacks.
    pub missing_required_terms: Vec<String>,
    /// No banned phrase and no missing term.
    pub compliant: bool,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(str::to_lowercase)
        .collect()
}

/// Syllables of an English word, by vowel groups (the usual Flesch approximation).
fn syllables(word: &str) -> i64 {
    let vowels = |c: char| "aeiouy".contains(c);
    let mut count = 0;
    let mut previous = false;
    for c in word.chars() {
        let v = vowels(c);
        if v && !previous {
            count += 1;
        }
        previous = v;
    }
    if word.ends_with('e') && count > 1 && !word.ends_with("le") {
        count -= 1;
    }
    count.max(1)
}

/// Occurrences of a phrase in a text, case-insensitive, on word boundaries.
fn occurrences(haystack: &[String], phrase: &str) -> i64 {
    let needle = words(phrase);
    if needle.is_empty() || needle.len() > haystack.len() {
        return 0;
    }
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle.as_slice())
        .count() as i64
}

/// Checks a text against the banned phrases and required terms.
pub fn compliance(text: &str, voice: &BrandVoice, required_terms: &[String]) -> Compliance {
    let all = words(text);
    let banned_phrases_found: Vec<String> = voice
        .banned_phrases
        .iter()
        .filter(|p| occurrences(&all, p) > 0)
        .cloned()
        .collect();
    let missing_required_terms: Vec<String> = required_terms
        .iter()
        .filter(|t| occurrences(&all, t) == 0)
        .cloned()
        .collect();
    let compliant = banned_phrases_found.is_empty() && missing_required_terms.is_empty();
    Compliance {
        banned_phrases_found,
        missing_required_terms,
        compliant,
    }
}

/// Analyses a text.
pub fn analyze(
    text: &str,
    voice: &BrandVoice,
    required_terms: &[String],
    keywords: &[String],
) -> ContentAnalysis {
    let all = words(text);
    let word_count = all.len() as i64;
    let sentences = text
        .split(['.', '!', '?'])
        .filter(|s| s.chars().any(char::is_alphanumeric))
        .count()
        .max(1) as i64;
    let syllable_count: i64 = all.iter().map(|w| syllables(w)).sum();
    // Flesch: 206.835 − 1.015 (words/sentences) − 84.6 (syllables/words), in tenths, integer maths.
    let readability_tenths = if word_count == 0 {
        0
    } else {
        (2_068_350 - 10_150 * word_count / sentences - 846_000 * syllable_count / word_count)
            / 1_000
    }
    .clamp(0, 1_000);
    let keyword_density_per_mille = keywords
        .iter()
        .map(|keyword| {
            let count = occurrences(&all, keyword);
            KeywordDensity {
                keyword: keyword.clone(),
                count,
                per_mille: if word_count == 0 {
                    0
                } else {
                    count * 1_000 / word_count
                },
            }
        })
        .collect();
    ContentAnalysis {
        words: word_count,
        sentences,
        readability_tenths,
        keyword_density_per_mille,
        compliance: compliance(text, voice, required_terms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice() -> BrandVoice {
        BrandVoice {
            banned_phrases: vec!["synergy".into(), "best in class".into()],
            ..Default::default()
        }
    }

    #[test]
    fn banned_phrases_and_missing_terms_are_found_on_word_boundaries() {
        let text = "Our Best-in-class platform brings synergy. Synergistic teams ship.";
        let result = compliance(
            text,
            &voice(),
            &["AWS Marketplace".into(), "platform".into()],
        );
        assert_eq!(result.banned_phrases_found, ["synergy"]);
        assert_eq!(result.missing_required_terms, ["AWS Marketplace"]);
        assert!(!result.compliant);
        let clean = compliance(
            "Buy it on AWS Marketplace today.",
            &voice(),
            &["aws marketplace".into()],
        );
        assert!(clean.compliant);
    }

    #[test]
    fn simple_text_reads_easier_than_dense_text() {
        let simple = analyze(
            "We ship fast. You save time. It just works.",
            &voice(),
            &[],
            &[],
        );
        let dense = analyze(
            "Comprehensive organizational transformation necessitates institutionalized interdepartmental collaboration methodologies.",
            &voice(),
            &[],
            &[],
        );
        assert!(simple.readability_tenths > dense.readability_tenths);
        assert_eq!(simple.words, 9);
        assert_eq!(simple.sentences, 3);
    }

    #[test]
    fn keyword_density_counts_per_thousand_words() {
        let text = "cloud cost cloud savings are cloud native and we love saving";
        let result = analyze(text, &voice(), &[], &["cloud".into(), "cost".into()]);
        assert_eq!(
            result.keyword_density_per_mille[0],
            KeywordDensity {
                keyword: "cloud".into(),
                count: 3,
                per_mille: 272
            }
        );
        assert_eq!(result.keyword_density_per_mille[1].count, 1);
    }
}
