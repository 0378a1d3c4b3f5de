//! The text of a raw RFC 822 e-mail for the `spam` stand-in task (see the parent module's
//! documentation): its decoded `Subject` and the start of its body, with MIME multipart
//! parts, quoted-printable, base64 and RFC 2047 encoded words decoded and HTML stripped.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::{clean, SPAM_MAX_CHARS};

/// Subject plus the cleaned start of the body of a raw RFC 822 email (see the module doc).
pub fn email_text(raw: &[u8]) -> String {
    let (head, body) = split_head(raw);
    let headers = parse_headers(head);
    let subject = header(&headers, "subject")
        .map(decode_encoded_words)
        .unwrap_or_default();
    let body = part_text(&headers, body, 0);
    let text = clean(&format!("{subject} {body}"));
    match text.char_indices().nth(SPAM_MAX_CHARS) {
        Some((i, _)) => text[..i].trim_end().to_string(),
        None => text,
    }
}

/// Split at the first empty line.
fn split_head(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\n' {
            let rest = &raw[i + 1..];
            if rest.starts_with(b"\n") {
                return (&raw[..i], &rest[1..]);
            }
            if rest.starts_with(b"\r\n") {
                return (&raw[..i], &rest[2..]);
            }
        }
        i += 1;
    }
    (raw, &[])
}

/// Unfolded headers as (lower-case name, value).
fn parse_headers(head: &[u8]) -> Vec<(String, String)> {
    let text = bytes_to_string(head);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A `key=value` parameter of a header value (e.g. `boundary`), quotes removed.
fn header_param(value: &str, key: &str) -> Option<String> {
    for part in value.split(';').skip(1) {
        if let Some((k, v)) = part.split_once('=') {
            if k.trim().eq_ignore_ascii_case(key) {
                return Some(v.trim().trim_matches('"').to_string());
            }
        }
    }
    None
}

/// Text of a (possibly multipart) message part: the first text/plain part, else the first
/// text/html part, decoded.
fn part_text(headers: &[(String, String)], body: &[u8], depth: usize) -> String {
    let ctype = header(headers, "content-type")
        .unwrap_or("text/plain")
        .to_ascii_lowercase();
    if ctype.starts_with("multipart/") {
        let Some(boundary) =
            header(headers, "content-type").and_then(|v| header_param(v, "boundary"))
        else {
            return String::new();
        };
        if depth >= 4 {
            return String::new();
        }
        let mut html = None;
        for part in multipart_parts(body, &boundary) {
            let (h, b) = split_head(part);
            let h = parse_headers(h);
            let t = header(&h, "content-type")
                .unwrap_or("text/plain")
                .to_ascii_lowercase();
            let is_html = t.starts_with("text/html");
            if !(t.starts_with("text/plain") || is_html || t.starts_with("multipart/")) {
                continue;
            }
            let text = part_text(&h, b, depth + 1);
            if text.trim().is_empty() {
                continue;
            }
            if is_html {
                html.get_or_insert(text);
            } else {
                return text;
            }
        }
        return html.unwrap_or_default();
    }
    if !(ctype.starts_with("text/") || ctype.is_empty()) {
        return String::new();
    }
    let cte = header(headers, "content-transfer-encoding")
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let bytes = match cte.as_str() {
        "quoted-printable" => decode_quoted_printable(body),
        "base64" => decode_base64(body),
        _ => body.to_vec(),
    };
    let text = bytes_to_string(&bytes);
    let lower_start: String = text
        .chars()
        .take(2000)
        .collect::<String>()
        .to_ascii_lowercase();
    if ctype.starts_with("text/html")
        || lower_start.contains("<html")
        || lower_start.contains("<body")
    {
        strip_html(&text)
    } else {
        text
    }
}

/// Bodies between `--boundary` delimiter lines, up to the closing `--boundary--`.
fn multipart_parts<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    while pos < body.len() {
        let end = body[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |i| pos + i + 1);
        let line = &body[pos..end];
        if line.starts_with(delim) {
            if let Some(s) = start {
                parts.push(&body[s..pos]);
            }
            let rest = &line[delim.len()..];
            if rest.starts_with(b"--") {
                return parts;
            }
            start = Some(end);
        }
        pos = end;
    }
    if let Some(s) = start {
        parts.push(&body[s..]);
    }
    parts
}

/// UTF-8 when valid, else Latin-1 (every byte one code point).
fn bytes_to_string(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => b.iter().map(|&c| c as char).collect(),
    }
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` bytes and `=` soft line breaks.
fn decode_quoted_printable(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if b[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if i + 2 < b.len() {
                if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Base64 (RFC 4648) ignoring characters outside the alphabet; stops at `=` padding. A last
/// group of one symbol (6 bits, less than a byte) gives nothing, the bits of a last partial
/// byte are dropped.
fn decode_base64(b: &[u8]) -> Vec<u8> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    );
    let mut symbols: Vec<u8> = b
        .iter()
        .copied()
        .take_while(|&c| c != b'=')
        .filter(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
        .collect();
    if symbols.len() % 4 == 1 {
        symbols.pop();
    }
    LENIENT
        .decode(&symbols)
        .expect("alphabet symbols of a decodable length, without padding")
}

/// RFC 2047 encoded words (`=?charset?Q|B?text?=`) in a header value, decoded to bytes and
/// read as UTF-8 or Latin-1; other text is kept.
fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("=?") {
        out.push_str(&rest[..start]);
        let word = &rest[start + 2..];
        let parsed = word.split_once('?').and_then(|(_charset, r)| {
            let (enc, r) = r.split_once('?')?;
            let end = r.find("?=")?;
            Some((enc, &r[..end], &r[end + 2..]))
        });
        match parsed {
            Some((enc, text, after)) if enc.eq_ignore_ascii_case("q") => {
                let t = text.replace('_', " ");
                out.push_str(&bytes_to_string(&decode_quoted_printable(t.as_bytes())));
                rest = after;
            }
            Some((enc, text, after)) if enc.eq_ignore_ascii_case("b") => {
                out.push_str(&bytes_to_string(&decode_base64(text.as_bytes())));
                rest = after;
            }
            _ => {
                out.push_str("=?");
                rest = word;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Crude HTML to text: drops comments, `<script>`/`<style>` blocks and tags, decodes common
/// entities.
fn strip_html(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len());
    let mut i = 0;
    while i < html.len() {
        let rest = &lower[i..];
        if rest.starts_with("<!--") {
            i = rest.find("-->").map_or(html.len(), |e| i + e + 3);
            out.push(' ');
        } else if rest.starts_with("<script") || rest.starts_with("<style") {
            let close = if rest.starts_with("<script") {
                "</script"
            } else {
                "</style"
            };
            i = match rest.find(close) {
                Some(e) => rest[e..].find('>').map_or(html.len(), |g| i + e + g + 1),
                None => html.len(),
            };
            out.push(' ');
        } else if rest.starts_with('<') {
            i = rest.find('>').map_or(html.len(), |e| i + e + 1);
            out.push(' ');
        } else if rest.starts_with('&') {
            let (s, len) = entity(&html[i..]);
            out.push_str(&s);
            i += len;
        } else {
            let c = html[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Decode the entity at the start of `s` (which starts with `&`): (text, bytes consumed).
fn entity(s: &str) -> (String, usize) {
    let end = s[1..]
        .char_indices()
        .take(10)
        .find(|(_, c)| *c == ';')
        .map(|(i, _)| i + 1);
    let Some(end) = end else {
        return ("&".to_string(), 1);
    };
    let name = &s[1..end];
    let decoded = match name.to_ascii_lowercase().as_str() {
        "nbsp" => Some(' '),
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16)
            .ok()
            .and_then(char::from_u32),
        n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
        _ => None,
    };
    match decoded {
        Some(c) => (c.to_string(), end + 1),
        None => ("&".to_string(), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_text_plain_with_subject() {
        let raw = b"From: a@b.c\nSubject: Meeting\n  tomorrow\nX-Spam: yes\n\nHello\tteam,\n\nsee you at 10.\n";
        assert_eq!(
            email_text(raw),
            "Meeting tomorrow Hello team, see you at 10."
        );
    }

    #[test]
    fn email_text_multipart_prefers_plain_and_decodes_qp() {
        let raw = b"Subject: =?iso-8859-1?Q?Caf=E9_deals?=\r\n\
Content-Type: multipart/alternative; boundary=\"XX\"\r\n\r\n\
preamble\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n\
--XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Buy now=2C save 50=25 to=\r\nday\r\n--XX--\r\nepilogue\r\n";
        assert_eq!(email_text(raw), "Caf\u{e9} deals Buy now, save 50% today");
    }

    #[test]
    fn email_text_base64_html() {
        // base64 of "<html><style>p{x}</style><b>Win</b> &amp; cash&#33;<!-- c --></html>"
        let b64 = "PGh0bWw+PHN0eWxlPnB7eH08L3N0eWxlPjxiPldpbjwvYj4gJmFtcDsgY2FzaCYjMzM7PCEtLSBjIC0tPjwvaHRtbD4=";
        let raw = format!(
            "Subject: hi\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n{b64}\n"
        );
        assert_eq!(email_text(raw.as_bytes()), "hi Win & cash!");
    }

    #[test]
    fn email_text_is_capped_and_latin1_tolerant() {
        let mut raw = b"Subject: x\n\n".to_vec();
        raw.extend(std::iter::repeat_n(b"ab\xe9 ".as_slice(), 600).flatten());
        let t = email_text(&raw);
        assert!(t.chars().count() <= SPAM_MAX_CHARS);
        assert!(t.starts_with("x ab\u{e9} ab\u{e9}"));
        assert!(!t.contains('\t') && !t.contains('\n'));
    }

    #[test]
    fn base64_skips_foreign_bytes_and_stops_at_padding() {
        assert_eq!(decode_base64(b"aGVs\r\nbG8h"), b"hello!");
        assert_eq!(decode_base64(b"aGk=aGk="), b"hi");
        assert_eq!(decode_base64(b"aG*k"), b"hi");
        // Trailing partial groups: 3 symbols give 2 bytes, 2 give 1, a lone one gives none.
        assert_eq!(decode_base64(b"aGVsbG8"), b"hello");
        assert_eq!(decode_base64(b"aGVsbA"), b"hell");
        assert_eq!(decode_base64(b"aGVsb"), b"hel");
        // The last symbol's two bits beyond the last byte are not zero: dropped all the same.
        assert_eq!(decode_base64(b"aGVsbGv"), b"hellk");
    }
}
