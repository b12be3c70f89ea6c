//! The lesson tokenizer and retrieval's `terms` on any text. The tokenizer's contract (its module
//! docs): whitespace is dropped, the rest lowercased and cut, nothing else added or lost — so the
//! tokens, end to end, are the input's non-whitespace characters lowercased, and no token is empty
//! or holds whitespace. `terms` keeps, in order, the tokens of two or more letters and digits.
#![no_main]

use gaze::model::retrieval::terms;
use gaze::model::tokenizer::tokenize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let tokens = tokenize(text);
    for token in &tokens {
        assert!(!token.is_empty(), "empty token in {tokens:?}");
        assert!(
            !token.chars().any(char::is_whitespace),
            "token {token:?} holds whitespace"
        );
    }
    let joined: String = tokens.concat();
    let expected: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    assert_eq!(
        joined, expected,
        "tokens {tokens:?} are not the text's characters"
    );

    let words = terms(text);
    let mut rest = tokens.iter();
    for word in &words {
        assert!(word.chars().count() >= 2 && word.chars().all(char::is_alphanumeric));
        assert!(
            rest.any(|t| t == word),
            "term {word:?} is not among the tokens in order: {tokens:?}"
        );
    }
});
