//! The lesson tokenizer: how Gaze cuts a sentence into tokens.
//!
//! Rules, in order: the text is lowercased (Unicode-aware); whitespace separates tokens and is
//! dropped; a token is either a maximal run of letters and digits (`char::is_alphanumeric`), or a
//! single other character — so punctuation stands alone: `what's our policy?` →
//! `what ' s our policy ?`. Real models use subword tokenizers (BPE); whole words keep the
//! lesson's arcs readable, and every token here is something a person would call a word.

/// The longest one-line text the lesson reads, in characters: a sentence (step 3), a corpus
/// prefix (step 1), a review, an example or a question (step 4). A long paragraph — far past what
/// the boxes show — and short enough that tokenizing and retrieving it stays instant. Longer text
/// is refused with this number in the message, and the last good result stays on screen.
pub const MAX_LINE_CHARS: usize = 4_096;

/// Splits `text` into lesson tokens (see the module docs for the rules).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for ch in text.chars() {
        if ch.is_alphanumeric() {
            word.extend(ch.to_lowercase());
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
        if !ch.is_whitespace() {
            tokens.push(ch.to_lowercase().collect());
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    #[test]
    fn words_are_lowercased_and_punctuation_split() {
        assert_eq!(
            tokenize("The best  database is"),
            ["the", "best", "database", "is"]
        );
        assert_eq!(
            tokenize("what's our policy?"),
            ["what", "'", "s", "our", "policy", "?"]
        );
        assert_eq!(
            tokenize("\"loved it\" → positive"),
            ["\"", "loved", "it", "\"", "→", "positive"]
        );
    }

    #[test]
    fn empty_and_blank_text_have_no_tokens() {
        assert!(tokenize("").is_empty());
        assert!(tokenize(" \t\n ").is_empty());
    }

    #[test]
    fn unicode_letters_stay_in_words_and_emoji_stand_alone() {
        assert_eq!(tokenize("Ünïcode straße"), ["ünïcode", "straße"]);
        assert_eq!(tokenize("great🎉!"), ["great", "🎉", "!"]);
        assert_eq!(tokenize("ДАННЫЕ"), ["данные"]);
    }
}
