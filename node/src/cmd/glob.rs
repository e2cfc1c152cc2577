//! Redis's glob matching (`stringmatchlen`) for `KEYS`, `SCAN MATCH` and `COMMAND LIST`.
//!
//! Supports `*`, `?`, `[...]` with `^` negation, `a-z` ranges (reversed ranges swap) and `\`
//! escapes, with Redis's quirks: an unterminated `[` ends the class at the end of the pattern,
//! range bounds compare as C signed chars (x86), and recursion is capped so abusive patterns
//! fail fast instead of exploding.

/// Recursion depth past which a pattern is treated as not matching (Redis: 1000).
const NESTING_MAX: u32 = 1000;

/// True when `string` matches `pattern` (case-sensitive).
pub fn matches(pattern: &[u8], string: &[u8]) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, &mut skip_longer, 0)
}

fn match_impl(mut p: &[u8], mut s: &[u8], skip_longer: &mut bool, nesting: u32) -> bool {
    if nesting > NESTING_MAX {
        return false;
    }
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_impl(&p[1..], s, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                // Nothing after this star matched anywhere in the rest of the string, so no
                // longer match for an earlier star can succeed either.
                *skip_longer = true;
                return false;
            }
            b'?' => {
                s = &s[1..];
            }
            b'[' => {
                p = &p[1..];
                let negate = p.first() == Some(&b'^');
                if negate {
                    p = &p[1..];
                }
                let c = s[0];
                let mut hit = false;
                loop {
                    if p.len() >= 2 && p[0] == b'\\' {
                        p = &p[1..];
                        hit |= p[0] == c;
                    } else if p.is_empty() {
                        // Unterminated class: stop at the end of the pattern.
                        break;
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut lo, mut hi) = (signed(p[0]), signed(p[2]));
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        hit |= (lo..=hi).contains(&signed(c));
                        p = &p[2..];
                    } else {
                        hit |= p[0] == c;
                    }
                    p = &p[1..];
                }
                if hit == negate {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    // The class ran to the end of the pattern: nothing left to consume.
                    break;
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if p[0] != s[0] {
                    return false;
                }
                s = &s[1..];
            }
            lit => {
                if lit != s[0] {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

/// A byte as C's (signed on x86) `char`.
fn signed(b: u8) -> i8 {
    b as i8
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &str, s: &str) -> bool {
        matches(p.as_bytes(), s.as_bytes())
    }

    #[test]
    fn stars_and_questions() {
        // As in Redis, nothing matches the empty string but the empty pattern; KEYS and SCAN
        // special-case a lone "*".
        assert!(!m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(m("h?llo", "hallo"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("a**", "a"));
        assert!(m("*a*", "bab"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(!m("?", ""));
        assert!(m("foo*", "foo"));
        assert!(m("foo**", "foo"));
    }

    #[test]
    fn classes_ranges_and_negation() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed range swaps");
        assert!(m("[0-9]*", "7up"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        // `a-]` is a range from 'a' to ']' (swapped), leaving the class unterminated.
        assert!(!m("[a-]", "-"));
        assert!(m("[a-]", "_"));
        // Unterminated class runs to the end of the pattern.
        assert!(m("[abc", "b"));
        assert!(!m("[abc", "d"));
        assert!(!m("[abc", "bb"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\?b", "a?b"));
        assert!(!m("a\\?b", "axb"));
        assert!(m("\\", "\\"), "a lone trailing backslash is literal");
        assert!(m("a\\", "a\\"));
    }

    #[test]
    fn binary_and_high_bytes_compare_as_signed_chars() {
        assert!(matches(b"[\x00-\x7f]", b"A"));
        // 0xff is -1 as a signed char, so the range a..0xff swaps to -1..97.
        assert!(matches(b"[a-\xff]", b"\x00"));
        assert!(!matches(b"[a-\xff]", b"b"));
        assert!(matches(b"\xe4*", b"\xe4\xb8\xad"));
    }

    #[test]
    fn abusive_patterns_terminate() {
        let pattern = "a*".repeat(40) + "b";
        let subject = "a".repeat(60);
        assert!(!m(&pattern, &subject));
        let deep = "*?".repeat(2000);
        assert!(!m(&deep, &"x".repeat(1500)));
    }
}
