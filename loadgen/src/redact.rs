//! Secrets out of everything printed or written: a URL's password shows as
//! `user:***@`, and the value of a credential header (`Authorization`,
//! `Proxy-Authorization`, `Cookie`, `X-Api-Key`, `Api-Key`, `X-Auth-Token`) as `***`. Applied where a URL or a command line enters the plan, so the
//! run header, the JSON, node files, campaign reports and error messages never
//! hold one.

/// What a redacted secret shows as.
pub const MASK: &str = "***";

/// Headers whose value is a credential.
const SECRET_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
];

/// `http://user:pw@host/` -> `http://user:***@host/`, and a user alone (often a
/// token: `https://TOKEN@host/`) `http://***@host/`; anything else unchanged.
/// The one masking rule for URLs: what runs print, results record and
/// merges read back.
/// Works on text that is not a valid URL too (an error message quoting one).
pub fn url(text: &str) -> String {
    // The userinfo ends at the last '@' before the path; it starts after "://"
    // (or at the start, for a URL given without a scheme).
    let start = text.find("://").map_or(0, |i| i + 3);
    let rest = &text[start..];
    let end_of_authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..end_of_authority].rfind('@') else {
        return text.to_string();
    };
    let userinfo = &rest[..at];
    match userinfo.find(':') {
        Some(colon) if &userinfo[colon + 1..] != MASK => format!(
            "{}{}:{MASK}{}",
            &text[..start],
            &userinfo[..colon],
            &rest[at..]
        ),
        None if !userinfo.is_empty() && userinfo != MASK => {
            format!("{}{MASK}{}", &text[..start], &rest[at..])
        }
        _ => text.to_string(),
    }
}

/// `Authorization: Basic abc` -> `Authorization: ***`; other headers unchanged.
pub fn header(h: &str) -> String {
    match h.split_once(':') {
        Some((name, _)) if is_secret(name.trim()) => format!("{}: {MASK}", name.trim()),
        _ => h.to_string(),
    }
}

/// Whether a header of this name carries a credential.
pub fn is_secret(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s))
}

/// A command line (or any text) with every URL's password and every credential
/// header's value masked. A header value may hold spaces, so the words after a
/// credential header's name are masked up to the next flag or URL.
pub fn command_line(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut in_secret = false;
    for w in text.split(' ') {
        if in_secret && !w.starts_with('-') && !w.contains("://") {
            continue;
        }
        let r = arg(w);
        in_secret = r.ends_with(MASK) && r != w && !w.contains('@');
        out.push(r);
    }
    out.join(" ")
}

/// Each argument redacted (an argv, each element whole).
pub fn args(words: &[String]) -> Vec<String> {
    words.iter().map(|w| arg(w)).collect()
}

/// One argument: a URL, or a credential header in `V`, `-HV` or `--header=V`.
pub fn arg(w: &str) -> String {
    let (prefix, value) = if let Some(v) = w.strip_prefix("--header=") {
        ("--header=", v)
    } else if let Some(v) = w.strip_prefix("-H").filter(|v| !v.is_empty()) {
        ("-H", v)
    } else {
        ("", w)
    };
    let name = value.split_once(':').map(|(n, _)| n.trim());
    if name.is_some_and(is_secret) && !value.contains("://") {
        return format!("{prefix}{}", header(value));
    }
    format!("{prefix}{}", url(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_credential_headers_are_masked() {
        assert_eq!(
            url("http://user:pw@127.0.0.1:8080/auth"),
            "http://user:***@127.0.0.1:8080/auth"
        );
        assert_eq!(url("user:p%40ss@h/x"), "user:***@h/x");
        assert_eq!(url("http://user@h/"), "http://***@h/");
        assert_eq!(url("http://***@h/"), "http://***@h/");
        assert_eq!(url("http://user:***@h/"), "http://user:***@h/");
        assert_eq!(url("http://h/a@b"), "http://h/a@b");
        assert_eq!(url("http://a:b:c@h"), "http://a:***@h");
        assert_eq!(
            command_line("ceiling -H Authorization: Bearer xyz -c 2 http://u:pw@h/"),
            "ceiling -H Authorization: *** -c 2 http://u:***@h/"
        );
        assert_eq!(
            command_line("ceiling --header=authorization:tok http://h/"),
            "ceiling --header=authorization: *** http://h/"
        );
        assert_eq!(
            command_line("ceiling -H X-A: 1 http://h/"),
            "ceiling -H X-A: 1 http://h/"
        );
    }
}
