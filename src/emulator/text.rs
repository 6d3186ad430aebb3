//! Deterministic answer text: sentence-shaped words from a small vocabulary, now and then
//! a short list or a code block, so a dashboard has something real to render.
//!
//! The text comes out one token at a time from a seeded generator; the same seed gives the
//! same answer.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const WORDS: &[&str] = &[
    "the", "signal", "model", "router", "answer", "latency", "track", "token", "request",
    "quickly", "each", "every", "local", "small", "stream", "server", "points", "route", "green",
    "red", "breaker", "queue", "waits", "runs", "sends", "keeps", "a", "an", "of", "to", "and",
    "with", "before", "after", "while", "fast", "careful", "simple", "steady", "result", "value",
    "train", "line", "box", "clear", "open", "closed", "time", "load", "slot", "first", "next",
    "short", "long", "question", "context", "prompt", "number", "word", "list", "check", "step",
    "because", "so", "then", "often", "rarely", "still", "here", "there",
];

const IDENTS: &[&str] = &[
    "route", "signal", "total", "count", "delay", "window", "slot", "token",
];

/// One piece of the answer before it is written out.
#[derive(Clone, Copy, Debug)]
enum Piece {
    /// A vocabulary word, with a leading space unless it starts a line, capitalised when it
    /// starts a sentence.
    Word {
        word: &'static str,
        capital: bool,
        space: bool,
    },
    /// Text written as it is (punctuation, newlines, code).
    Lit(&'static str),
}

/// A seeded answer that yields one token at a time.
pub(crate) struct Answer {
    rng: SmallRng,
    target: u32,
    produced: u32,
    pending: Vec<Piece>,
    next: usize,
    at_line_start: bool,
    units: u32,
}

impl Answer {
    /// An answer of exactly `target` tokens; its last sentence is cut to fit.
    pub(crate) fn new(seed: u64, target: u32) -> Self {
        Answer {
            rng: SmallRng::seed_from_u64(seed),
            target: target.max(1),
            produced: 0,
            pending: Vec::with_capacity(48),
            next: 0,
            at_line_start: true,
            units: 0,
        }
    }

    /// Appends the next token to `out`; false when the answer is complete.
    pub(crate) fn next_token(&mut self, out: &mut String) -> bool {
        if self.produced >= self.target {
            return false;
        }
        if self.next == self.pending.len() {
            self.refill();
        }
        let piece = self.pending[self.next];
        self.next += 1;
        self.produced += 1;
        match piece {
            Piece::Word {
                word,
                capital,
                space,
            } => {
                if space {
                    out.push(' ');
                }
                if capital {
                    let mut chars = word.chars();
                    if let Some(c) = chars.next() {
                        out.push(c.to_ascii_uppercase());
                        out.push_str(chars.as_str());
                    }
                } else {
                    out.push_str(word);
                }
            }
            Piece::Lit(text) => out.push_str(text),
        }
        true
    }

    /// Queues the next unit, a sentence, a list or a code block, sized to fit the tokens
    /// left. Always queues at least one piece.
    fn refill(&mut self) {
        self.pending.clear();
        self.next = 0;
        let left = self.target - self.produced;
        let kind = if self.units == 0 {
            0
        } else {
            self.rng.random_range(0..12u8)
        };
        self.units += 1;
        match kind {
            10 if left >= LIST_MAX => self.list(),
            11 if left >= CODE_LEN => self.code_block(),
            _ if left == 1 && self.produced > 0 => self.pending.push(Piece::Lit("\n")),
            _ => {
                let mut budget = left;
                if self.units > 1 && budget > 8 && self.rng.random_range(0..4u8) == 0 {
                    self.pending.push(Piece::Lit("\n\n"));
                    self.at_line_start = true;
                    budget -= 1;
                }
                self.sentence(5..=14, Some("."), budget);
            }
        }
    }

    /// Queues a sentence of words from `words`, shortened to at most `budget` tokens.
    fn sentence(
        &mut self,
        words: std::ops::RangeInclusive<u32>,
        end: Option<&'static str>,
        budget: u32,
    ) {
        let end_cost = u32::from(end.is_some());
        let cost = |count: u32| count + end_cost + u32::from(count > 8);
        let mut count = self.rng.random_range(words);
        while count > 1 && cost(count) > budget {
            count -= 1;
        }
        let with_end = cost(count) <= budget;
        let comma = if count > 8 {
            self.rng.random_range(3..count - 2)
        } else {
            u32::MAX
        };
        for i in 0..count {
            let space = i > 0 || !self.at_line_start;
            let word = WORDS[self.rng.random_range(0..WORDS.len())];
            self.pending.push(Piece::Word {
                word,
                capital: i == 0,
                space,
            });
            if i == comma {
                self.pending.push(Piece::Lit(","));
            }
        }
        if let Some(end) = end.filter(|_| with_end) {
            self.pending.push(Piece::Lit(end));
        }
        self.at_line_start = false;
    }

    fn list(&mut self) {
        self.pending.push(Piece::Lit("\n\n"));
        self.at_line_start = true;
        self.sentence(3..=7, Some(":"), u32::MAX);
        for _ in 0..self.rng.random_range(2..=4u8) {
            self.pending.push(Piece::Lit("\n- "));
            self.at_line_start = true;
            self.sentence(2..=6, None, u32::MAX);
        }
        self.pending.push(Piece::Lit("\n\n"));
        self.at_line_start = true;
    }

    fn code_block(&mut self) {
        let name = IDENTS[self.rng.random_range(0..IDENTS.len())];
        let var = IDENTS[self.rng.random_range(0..IDENTS.len())];
        let value = ["1", "3", "8", "42", "100"][self.rng.random_range(0..5)];
        self.pending.extend(
            [
                "\n\n```rust\n",
                "fn ",
                name,
                "()",
                " -> u32",
                " {\n",
                "    let ",
                var,
                " = ",
                value,
            ]
            .map(Piece::Lit),
        );
        self.pending
            .extend([";\n", "    ", var, "\n", "}\n", "```\n\n"].map(Piece::Lit));
        self.at_line_start = true;
    }
}

/// The most tokens a list takes: a break, an intro of up to 7 words and a colon, up to 4
/// items of a marker and up to 6 words, and a closing break.
const LIST_MAX: u32 = 1 + 8 + 4 * 7 + 1;

/// The tokens a code block takes.
const CODE_LEN: u32 = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(seed: u64, target: u32) -> (String, u32) {
        let mut answer = Answer::new(seed, target);
        let mut text = String::new();
        let mut tokens = 0;
        while answer.next_token(&mut text) {
            tokens += 1;
        }
        (text, tokens)
    }

    #[test]
    fn same_seed_gives_the_same_answer() {
        assert_eq!(collect(9, 60), collect(9, 60));
        assert_ne!(collect(9, 60).0, collect(10, 60).0);
    }

    #[test]
    fn answer_has_exactly_its_target_length_and_starts_a_sentence() {
        for target in [1, 2, 3, 5, 9, 17, 40, 41, 200] {
            for seed in 0..30 {
                let (text, tokens) = collect(seed, target);
                assert_eq!(tokens, target, "seed {seed}: {text:?}");
                assert!(
                    text.starts_with(char::is_uppercase),
                    "seed {seed}: {text:?}"
                );
            }
        }
    }

    #[test]
    fn every_token_has_text() {
        let mut answer = Answer::new(3, 500);
        let mut token = String::new();
        while answer.next_token(&mut token) {
            assert!(!token.is_empty());
            token.clear();
        }
    }

    #[test]
    fn long_answers_sometimes_hold_lists_and_code() {
        let texts: Vec<String> = (0..40).map(|seed| collect(seed, 200).0).collect();
        assert!(texts.iter().any(|t| t.contains("\n- ")));
        assert!(texts.iter().any(|t| t.contains("```rust")));
    }
}
