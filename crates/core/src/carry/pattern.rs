//! Gitignore patterns matched by git's own rules: a line is parsed as
//! `dir.c`'s `parse_path_pattern` does, matched as its `match_basename` /
//! `match_pathname` do, and globbed by a port of `wildmatch.c`. A path is
//! matched when the last pattern matching it is positive, or when one of its
//! parent directories is matched that way (git never looks inside an excluded
//! directory, so nothing there can be re-included). The tests check every
//! case against `git check-ignore`.

/// Where a pattern came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file (`.worktreeinclude`, `branchyard.toml [files] copy`…).
    pub file: String,
    /// 1-based line (or list index) in it.
    pub line: usize,
}

/// One parsed pattern line.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The line as written (for messages).
    pub raw: String,
    /// Where it came from.
    pub origin: Origin,
    /// The pattern without `!` and the trailing `/`.
    body: Vec<u8>,
    negative: bool,
    must_be_dir: bool,
    /// No `/` except a trailing one: matched against the base name at any depth.
    basename_only: bool,
    /// `*literal`: matched as a suffix.
    ends_with: bool,
    /// Length of the literal prefix before the first glob character.
    literal_len: usize,
}

impl Pattern {
    /// Parses one line; `None` for blank lines and comments.
    pub fn parse(line: &str, origin: Origin) -> Option<Pattern> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let trimmed = trim_trailing_spaces(line.as_bytes());
        let mut p = trimmed;
        let negative = p.first() == Some(&b'!');
        if negative {
            p = &p[1..];
        }
        let must_be_dir = p.last() == Some(&b'/');
        if must_be_dir {
            p = &p[..p.len() - 1];
        }
        let basename_only = !p.contains(&b'/');
        let literal_len = simple_length(p);
        let ends_with = p.first() == Some(&b'*') && simple_length(&p[1..]) == p.len() - 1;
        Some(Pattern {
            raw: line.to_string(),
            origin,
            body: p.to_vec(),
            negative,
            must_be_dir,
            basename_only,
            ends_with,
            literal_len,
        })
    }

    /// Whether this is a `!` pattern (it takes paths out again).
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The path components the pattern names literally (without glob
    /// characters), e.g. `.git` in `.git/config`.
    pub fn literal_components(&self) -> Vec<String> {
        let body = self.body.strip_prefix(b"/").unwrap_or(&self.body);
        body.split(|b| *b == b'/')
            .filter(|c| simple_length(c) == c.len())
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    }

    /// Whether the pattern has a `..` component (which cannot leave the repo
    /// root, so it is almost surely a mistake).
    pub fn climbs(&self) -> bool {
        self.body.split(|b| *b == b'/').any(|c| c == b"..")
    }

    /// Whether it matches `path` (`/`-separated, relative to the repo root)
    /// itself, ignoring parents: git's `last_matching_pattern_from_list` test.
    fn matches_itself(&self, path: &[u8], is_dir: bool) -> bool {
        if self.must_be_dir && !is_dir {
            return false;
        }
        if self.basename_only {
            let base = path.rsplit(|b| *b == b'/').next().unwrap_or(path);
            return self.match_basename(base);
        }
        self.match_pathname(path)
    }

    fn match_basename(&self, base: &[u8]) -> bool {
        let p = &self.body;
        if self.literal_len == p.len() {
            return p == base;
        }
        if self.ends_with {
            return base.ends_with(&p[1..]);
        }
        wildmatch(p, base, false)
    }

    fn match_pathname(&self, name: &[u8]) -> bool {
        let mut pattern: &[u8] = &self.body;
        let mut prefix = self.literal_len;
        if pattern.first() == Some(&b'/') {
            pattern = &pattern[1..];
            prefix -= 1;
        }
        let mut name = name;
        if prefix > 0 {
            if prefix > name.len() || pattern[..prefix] != name[..prefix] {
                return false;
            }
            if pattern.len() == prefix && name.len() == prefix {
                return true;
            }
            // Keep one character of the prefix so the glob sees where a
            // component starts (as git does).
            let keep = prefix - 1;
            pattern = &pattern[keep..];
            name = &name[keep..];
        }
        wildmatch(pattern, name, true)
    }

    /// Whether the pattern could match something strictly below directory
    /// `dir`. Conservative: `true` when unsure, so a walk never misses a match.
    fn could_match_below(&self, dir: &[u8]) -> bool {
        if self.negative {
            return false;
        }
        if self.basename_only || self.body.windows(2).any(|w| w == b"\\/") {
            return true;
        }
        let body = self.body.strip_prefix(b"/").unwrap_or(&self.body);
        let segs: Vec<&[u8]> = body.split(|b| *b == b'/').collect();
        let dirs: Vec<&[u8]> = dir.split(|b| *b == b'/').collect();
        for (i, d) in dirs.iter().enumerate() {
            match segs.get(i) {
                None => return false,
                Some(s) if *s == b"**" => return true,
                Some(s) if !wildmatch(s, d, true) => return false,
                Some(_) => {}
            }
        }
        segs.len() > dirs.len()
    }
}

/// An ordered list of patterns where the last match decides, as in one
/// `.gitignore` file at the repo root.
#[derive(Debug, Clone, Default)]
pub struct PatternList {
    patterns: Vec<Pattern>,
}

impl PatternList {
    /// Every pattern line of `text` (gitignore syntax), naming `file` as their origin.
    pub fn parse(text: &str, file: &str) -> PatternList {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut list = PatternList::default();
        for (i, line) in text.split('\n').enumerate() {
            let origin = Origin {
                file: file.to_string(),
                line: i + 1,
            };
            if let Some(p) = Pattern::parse(line, origin) {
                list.patterns.push(p);
            }
        }
        list
    }

    /// Adds a pattern after the others.
    pub fn push(&mut self, p: Pattern) {
        self.patterns.push(p);
    }

    /// The patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// The index of the last pattern matching `path` itself when it is
    /// positive; parents are not looked at (a walk carries their verdict down).
    pub fn selects_itself(&self, path: &str, is_dir: bool) -> Option<usize> {
        let path = path.as_bytes();
        let i = self
            .patterns
            .iter()
            .rposition(|p| p.matches_itself(path, is_dir))?;
        (!self.patterns[i].negative).then_some(i)
    }

    /// The positive pattern that selects `path` (a directory when `is_dir`),
    /// directly or through a parent directory; `None` when not selected.
    /// The walk in [`super::select`] computes the same by carrying each
    /// directory's [`PatternList::selects_itself`] down; the tests check this
    /// against `git check-ignore`.
    #[cfg(test)]
    pub fn selects(&self, path: &str, is_dir: bool) -> Option<&Pattern> {
        for (i, b) in path.bytes().enumerate() {
            if b == b'/' {
                if let Some(p) = self.selects_itself(&path[..i], true) {
                    return Some(&self.patterns[p]);
                }
            }
        }
        self.selects_itself(path, is_dir).map(|p| &self.patterns[p])
    }

    /// Whether a walk must look inside directory `dir` (relative, no trailing
    /// `/`) to find everything the list selects.
    pub fn may_select_below(&self, dir: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| p.could_match_below(dir.as_bytes()))
    }
}

/// Drops trailing spaces not escaped by a backslash (`trim_trailing_spaces`).
fn trim_trailing_spaces(s: &[u8]) -> &[u8] {
    let mut last_space: Option<usize> = None;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b' ' => {
                if last_space.is_none() {
                    last_space = Some(i);
                }
            }
            b'\\' => {
                i += 1;
                if i >= s.len() {
                    return s;
                }
                last_space = None;
            }
            _ => last_space = None,
        }
        i += 1;
    }
    match last_space {
        Some(at) => &s[..at],
        None => s,
    }
}

fn is_glob_special(c: u8) -> bool {
    matches!(c, b'*' | b'?' | b'[' | b'\\')
}

/// Length of the leading run without glob characters.
fn simple_length(s: &[u8]) -> usize {
    s.iter()
        .position(|c| is_glob_special(*c))
        .unwrap_or(s.len())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wild {
    Match,
    NoMatch,
    AbortAll,
    AbortToStarStar,
}

/// git's `wildmatch(pattern, text, pathname ? WM_PATHNAME : 0)`: whether it matches.
pub fn wildmatch(pattern: &[u8], text: &[u8], pathname: bool) -> bool {
    dowild(pattern, 0, text, 0, pathname) == Wild::Match
}

/// A port of wildmatch.c's `dowild` over byte slices; `pi`/`ti` index the
/// pattern and text (NUL-terminated in C: out of range reads as 0 here).
fn dowild(pat: &[u8], mut pi: usize, text: &[u8], mut ti: usize, pathname: bool) -> Wild {
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let start = pi;
    while at(pat, pi) != 0 {
        let mut p_ch = at(pat, pi);
        let t_ch = at(text, ti);
        if t_ch == 0 && p_ch != b'*' {
            return Wild::AbortAll;
        }
        match p_ch {
            b'?' => {
                if pathname && t_ch == b'/' {
                    return Wild::NoMatch;
                }
            }
            b'*' => {
                let match_slash;
                pi += 1;
                if at(pat, pi) == b'*' {
                    let prev_before_stars = pi.checked_sub(2).filter(|p| *p >= start);
                    while at(pat, pi) == b'*' {
                        pi += 1;
                    }
                    if !pathname {
                        match_slash = true;
                    } else if prev_before_stars.is_none_or(|p| pat[p] == b'/')
                        && (at(pat, pi) == 0
                            || at(pat, pi) == b'/'
                            || (at(pat, pi) == b'\\' && at(pat, pi + 1) == b'/'))
                    {
                        if at(pat, pi) == b'/'
                            && dowild(pat, pi + 1, text, ti, pathname) == Wild::Match
                        {
                            return Wild::Match;
                        }
                        match_slash = true;
                    } else {
                        match_slash = false;
                    }
                } else {
                    match_slash = !pathname;
                }
                if at(pat, pi) == 0 {
                    if !match_slash && text[ti.min(text.len())..].contains(&b'/') {
                        return Wild::NoMatch;
                    }
                    return Wild::Match;
                } else if !match_slash && at(pat, pi) == b'/' {
                    match text[ti.min(text.len())..].iter().position(|c| *c == b'/') {
                        None => return Wild::NoMatch,
                        Some(off) => {
                            // The slash is consumed by the loop's step, as in C.
                            ti += off;
                            pi += 1;
                            ti += 1;
                            continue;
                        }
                    }
                }
                let mut t_ch = t_ch;
                loop {
                    if t_ch == 0 {
                        break;
                    }
                    let next = at(pat, pi);
                    if !is_glob_special(next) {
                        loop {
                            t_ch = at(text, ti);
                            if t_ch == 0 || (!match_slash && t_ch == b'/') {
                                break;
                            }
                            if t_ch == next {
                                break;
                            }
                            ti += 1;
                        }
                        if t_ch != next {
                            return Wild::NoMatch;
                        }
                    }
                    let matched = dowild(pat, pi, text, ti, pathname);
                    if matched != Wild::NoMatch {
                        if !match_slash || matched != Wild::AbortToStarStar {
                            return matched;
                        }
                    } else if !match_slash && t_ch == b'/' {
                        return Wild::AbortToStarStar;
                    }
                    ti += 1;
                    t_ch = at(text, ti);
                }
                return Wild::AbortAll;
            }
            b'[' => {
                pi += 1;
                p_ch = at(pat, pi);
                if p_ch == b'^' {
                    p_ch = b'!';
                }
                let negated = p_ch == b'!';
                if negated {
                    pi += 1;
                    p_ch = at(pat, pi);
                }
                let mut prev_ch: u8 = 0;
                let mut matched = false;
                loop {
                    if p_ch == 0 {
                        return Wild::AbortAll;
                    }
                    if p_ch == b'\\' {
                        pi += 1;
                        p_ch = at(pat, pi);
                        if p_ch == 0 {
                            return Wild::AbortAll;
                        }
                        if t_ch == p_ch {
                            matched = true;
                        }
                    } else if p_ch == b'-'
                        && prev_ch != 0
                        && at(pat, pi + 1) != 0
                        && at(pat, pi + 1) != b']'
                    {
                        pi += 1;
                        p_ch = at(pat, pi);
                        if p_ch == b'\\' {
                            pi += 1;
                            p_ch = at(pat, pi);
                            if p_ch == 0 {
                                return Wild::AbortAll;
                            }
                        }
                        if t_ch <= p_ch && t_ch >= prev_ch {
                            matched = true;
                        }
                        p_ch = 0;
                    } else if p_ch == b'[' && at(pat, pi + 1) == b':' {
                        let s = pi + 2;
                        pi = s;
                        while at(pat, pi) != 0 && at(pat, pi) != b']' {
                            pi += 1;
                        }
                        if at(pat, pi) == 0 {
                            return Wild::AbortAll;
                        }
                        let len = pi as isize - s as isize - 1;
                        if len < 0 || pat[pi - 1] != b':' {
                            // No ":]": an ordinary `[` in the set (p_ch is still `[`).
                            pi = s - 2;
                            if t_ch == b'[' {
                                matched = true;
                            }
                        } else {
                            match char_class(&pat[s..pi - 1], t_ch) {
                                None => return Wild::AbortAll,
                                Some(true) => matched = true,
                                Some(false) => {}
                            }
                            p_ch = 0;
                        }
                    } else if t_ch == p_ch {
                        matched = true;
                    }
                    prev_ch = p_ch;
                    pi += 1;
                    p_ch = at(pat, pi);
                    if p_ch == b']' {
                        break;
                    }
                }
                if matched == negated || (pathname && t_ch == b'/') {
                    return Wild::NoMatch;
                }
            }
            b'\\' => {
                pi += 1;
                p_ch = at(pat, pi);
                if t_ch != p_ch {
                    return Wild::NoMatch;
                }
            }
            _ => {
                if t_ch != p_ch {
                    return Wild::NoMatch;
                }
            }
        }
        pi += 1;
        ti += 1;
    }
    if at(text, ti) != 0 {
        Wild::NoMatch
    } else {
        Wild::Match
    }
}

/// `[:name:]`: whether `c` is in the class; `None` for an unknown class.
fn char_class(name: &[u8], c: u8) -> Option<bool> {
    Some(match name {
        b"alnum" => c.is_ascii_alphanumeric(),
        b"alpha" => c.is_ascii_alphabetic(),
        b"blank" => c == b' ' || c == b'\t',
        b"cntrl" => c.is_ascii_control(),
        b"digit" => c.is_ascii_digit(),
        b"graph" => c.is_ascii_graphic(),
        b"lower" => c.is_ascii_lowercase(),
        b"print" => c.is_ascii_graphic() || c == b' ',
        b"punct" => c.is_ascii_punctuation(),
        b"space" => c.is_ascii_whitespace() || c == 0x0b,
        b"upper" => c.is_ascii_uppercase(),
        b"xdigit" => c.is_ascii_hexdigit(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
