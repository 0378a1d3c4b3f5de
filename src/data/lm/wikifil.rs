//! The text8 cleaning of a Wikipedia XML dump: the rules of Matt Mahoney's `wikifil.pl`
//! ("About the Test Data", <http://mattmahoney.net/dc/textdata.html>), which made text8 from
//! enwik9. Output holds only lowercase `a`–`z` and single spaces.
//!
//! The input is read as records that each end at a `>` byte (the script's `$/ = ">"`).
//! A record containing `<text ` starts article text; one containing `#redirect` (any case)
//! stops it; the record containing `</text>` is the last one kept. Each kept record, as bytes:
//! 1. the first XML tag on a line (`<.*>`, greedy, not across newlines) is removed;
//! 2. `&amp;`, `&lt;`, `&gt;` are decoded (in that order);
//! 3. references `<ref…</ref>` (no `<` inside), then every `<…>` tag, are removed;
//! 4. `[http:…` up to a space or `]` becomes `[` (the visible link text stays);
//! 5. `|thumb`, `|left`, `|right`, `|<digits>px` are removed (any case), and
//!    `[[image:…|` up to the last `|` before a bracket (any case): image captions stay;
//! 6. `[[category:NAME…]]` becomes `[[NAME]]` (any case); `[[xx:…]]` interlanguage links
//!    (lowercase prefix of `a`–`z` and `-`) are removed; `[[target|` becomes `[[`;
//! 7. `{{…}}` templates, then `{…}` tables, are removed (no `}` inside); `[` and `]` dropped;
//! 8. any remaining `&…;` entity becomes a space;
//! 9. the record is padded with a space on each side, `A`–`Z` lowered, each digit spelled as
//!    ` zero `…` nine `, every run of other bytes (non-ASCII bytes included) squeezed into one
//!    space, and the final byte (always that space) dropped.
//!
//! The records are concatenated as they are, so the result starts with a space and has no
//! newline.

use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};

const DIGITS: [&[u8]; 10] = [
    b" zero ", b" one ", b" two ", b" three ", b" four ", b" five ", b" six ", b" seven ",
    b" eight ", b" nine ",
];

/// A compiled substitution: pattern, replacement (with `${1}` references), and whether it
/// replaces every match or only the first.
struct Rule {
    pattern: Regex,
    replacement: &'static [u8],
    all: bool,
}

fn rule(pattern: &str, ignore_case: bool, replacement: &'static [u8], all: bool) -> Rule {
    // Byte semantics: `.` and classes match single bytes, `\d` is ASCII, case folding is ASCII.
    let pattern = RegexBuilder::new(pattern)
        .unicode(false)
        .case_insensitive(ignore_case)
        .build()
        .expect("valid wikifil pattern");
    Rule {
        pattern,
        replacement,
        all,
    }
}

/// The substitutions of steps 1–8, in order.
fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        vec![
            rule(r"<.*>", false, b"", false),
            rule(r"&amp;", false, b"&", true),
            rule(r"&lt;", false, b"<", true),
            rule(r"&gt;", false, b">", true),
            rule(r"<ref[^<]*</ref>", false, b"", true),
            rule(r"<[^>]*>", false, b"", true),
            rule(r"\[http:[^\] ]*", false, b"[", true),
            rule(r"\|thumb", true, b"", true),
            rule(r"\|left", true, b"", true),
            rule(r"\|right", true, b"", true),
            rule(r"\|\d+px", true, b"", true),
            rule(r"\[\[image:[^\[\]]*\|", true, b"", true),
            rule(r"\[\[category:([^|\]]*)[^\]]*\]\]", true, b"[[${1}]]", true),
            rule(r"\[\[[a-z\-]*:[^\]]*\]\]", false, b"", true),
            rule(r"\[\[[^|\]]*\|", false, b"[[", true),
            rule(r"\{\{[^}]*\}\}", false, b"", true),
            rule(r"\{[^}]*\}", false, b"", true),
            rule(r"\[", false, b"", true),
            rule(r"\]", false, b"", true),
            rule(r"&[^;]*;", false, b" ", true),
        ]
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Clean one kept record (steps 1–9) and append it to `out`.
fn clean_record(record: &[u8], out: &mut Vec<u8>) {
    let mut text = record.to_vec();
    for r in rules() {
        let replaced = if r.all {
            r.pattern.replace_all(&text, r.replacement)
        } else {
            r.pattern.replace(&text, r.replacement)
        };
        if let std::borrow::Cow::Owned(t) = replaced {
            text = t;
        }
    }
    // Step 9: pad, lower, spell digits, squeeze everything else into single spaces, chop.
    let mut spelled = Vec::with_capacity(text.len() + 2);
    spelled.push(b' ');
    for &b in &text {
        match b {
            b'0'..=b'9' => spelled.extend_from_slice(DIGITS[(b - b'0') as usize]),
            _ => spelled.push(b.to_ascii_lowercase()),
        }
    }
    spelled.push(b' ');
    let start = out.len();
    let mut in_run = false;
    for b in spelled {
        if b.is_ascii_lowercase() {
            out.push(b);
            in_run = false;
        } else if !in_run {
            out.push(b' ');
            in_run = true;
        }
    }
    // The padded record ends in a non-letter, so the last byte written is a space.
    debug_assert!(out.len() > start && out[out.len() - 1] == b' ');
    out.pop();
}

/// The text8 cleaning of a whole Wikipedia XML dump (see the module documentation).
pub fn clean(xml: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(xml.len() / 2);
    let mut in_text = false;
    for record in xml.split_inclusive(|&b| b == b'>') {
        if contains(record, b"<text ") {
            in_text = true;
        }
        if contains_ignore_case(record, b"#redirect") {
            in_text = false;
        }
        if in_text {
            if contains(record, b"</text>") {
                in_text = false;
            }
            clean_record(record, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn clean_str(s: &str) -> String {
        String::from_utf8(clean(s.as_bytes())).unwrap()
    }

    /// Wrap article wikitext (already XML-escaped) in a page as the dump writes it.
    fn page(body: &str) -> String {
        format!("  <page>\n    <title>T</title>\n    <revision>\n      <text xml:space=\"preserve\">{body}</text>\n    </revision>\n  </page>\n")
    }

    #[test]
    fn fixture_dump_gives_the_fixture_text8_line() {
        // The expected line was derived rule by rule by hand (see the fixture's markup).
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lm");
        let xml = std::fs::read(fixtures.join("wikisample_bytes/wikisample_bytes")).unwrap();
        let text = std::fs::read(fixtures.join("wikisample_text/wikisample_text")).unwrap();
        assert_eq!(
            String::from_utf8(clean(&xml)).unwrap(),
            String::from_utf8(text).unwrap()
        );
    }

    #[test]
    fn only_article_text_outside_redirects_is_kept() {
        let xml = format!(
            "<mediawiki>\n<siteinfo><sitename>Wikipedia</sitename></siteinfo>\n{}{}{}</mediawiki>",
            page("#redirect [[Elsewhere]]"),
            page("Alpha beta."),
            page("Gamma #Redirect delta"),
        );
        // Titles and site info are dropped; the redirect page is dropped; a `#redirect` inside
        // article text stops that article at its record.
        assert_eq!(clean_str(&xml), " alpha beta");
    }

    #[test]
    fn references_tags_entities_and_digits() {
        let body = "A&amp;B &lt;ref name=&quot;x&quot;&gt;Smith 2001&lt;/ref&gt;C \
                    &lt;small&gt;D&lt;/small&gt; E&amp;nbsp;F 42 G&amp;mdash;H &amp;amp; I";
        // `&amp;amp;` decodes once to `&amp;`. A bare `&` (from `A&amp;B`) starts an entity
        // that runs to the next `;`, here the one of `&nbsp;`: `&B C D E&nbsp;` becomes a
        // space, as in the script.
        assert_eq!(clean_str(&page(body)), " a f four two g h i");
    }

    #[test]
    fn links_images_and_categories() {
        let body =
            "[[Paris|the capital]] [[France]] [[fr:Paris]] [[Category:Cities in France|Paris]] \
                    [[image:X.png|THUMB|Right|30PX|A view]] [http://a.example/b visible] \
                    [https://a.example/c shown]";
        // `[https:` is not a `[http:` link: its URL is kept and spelled like any text.
        assert_eq!(
            clean_str(&page(body)),
            " the capital france cities in france a view visible https a example c shown"
        );
    }

    #[test]
    fn templates_and_tables() {
        let body = "x {{Infobox|a=1\n|b=2}} y {| class=\"t\"\n|-\n| 3 || 4\n|} z {{outer {{inner}} tail}} w";
        // `{{[^}]*}}` stops at the first `}`: nested templates leave their tail behind.
        assert_eq!(clean_str(&page(body)), " x y z tail w");
    }

    #[test]
    fn first_tag_rule_does_not_cross_lines() {
        // Step 1 removes `<.*>` once; `.` stops at a newline, so a `<` on an earlier line with
        // no `>` after it on that line is not the start of the match.
        let mut out = Vec::new();
        clean_record(b"a < b\nc <x> d <y>", &mut out);
        assert_eq!(out, b" a b c");
        let mut out = Vec::new();
        clean_record(b"!!!", &mut out);
        assert!(out.is_empty());
    }
}
