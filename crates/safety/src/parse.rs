//! Turning `bash -c` text into plain commands, or saying why not.

use tree_sitter::{Node, Parser};

/// Longer scripts are asked about, not parsed: tree-sitter's error
/// recovery took seconds on 13–31 KB of malformed shell (found by
/// fuzzing), and its progress callback is not called while it recovers.
const MAX_SCRIPT: usize = 4 << 10;

/// The simple commands of `script`, each as its words, when the script is
/// nothing but literal commands joined by `&&`, `||`, `;`, `|` or newlines.
/// Otherwise, why it is not (a reason a person can read).
pub fn parse_commands(script: &str) -> Result<Vec<Vec<String>>, String> {
    // tree-sitter-bash splits words at these; bash keeps them in the word.
    if script.contains(['\r', '\x0b', '\x0c']) {
        return Err(
            "it contains a carriage return, vertical tab or form feed, which bash reads as part of a word".into()
        );
    }
    if script.len() > MAX_SCRIPT {
        return Err(format!("it is too long to check ({} bytes; tern reads up to {MAX_SCRIPT})", script.len()));
    }
    if trips_brace_scanner(script) {
        return Err("it has a `{` followed by a character the shell parser cannot read safely".into());
    }
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_bash::LANGUAGE.into())
        .map_err(|e| format!("the shell parser could not load ({e})"))?;
    let tree = parser.parse(script, None).ok_or_else(|| "the command could not be parsed".to_string())?;
    let root = tree.root_node();
    if root.has_error() {
        return Err("the command could not be parsed as shell".into());
    }
    let mut out = Vec::new();
    walk(root, script.as_bytes(), &mut out)?;
    Ok(out)
}

/// tree-sitter-bash 0.25.1 reads the character after `{` and its digits
/// (and after `{1..` and its digits) with C's `isdigit`, which is undefined
/// past U+00FF: some such characters crash the process
/// (tree-sitter/tree-sitter-bash#337; found by the `safety` fuzz target).
fn trips_brace_scanner(script: &str) -> bool {
    let digits = |s: &str| s.trim_start_matches(|c: char| c.is_ascii_digit()).to_string();
    script.match_indices('{').any(|(i, _)| {
        let rest = digits(&script[i + 1..]);
        let rest = rest.strip_prefix("..").map_or(rest.clone(), digits);
        rest.chars().next().is_some_and(|c| u32::from(c) > 0xFF)
    })
}

const OPERATORS: [&str; 5] = ["&&", "||", ";", "|", "\n"];

fn walk(node: Node, src: &[u8], out: &mut Vec<Vec<String>>) -> Result<(), String> {
    match node.kind() {
        "program" | "list" | "pipeline" => {
            // The root's text is the whole script, whatever its node spans.
            let (mut at, end) =
                if node.parent().is_none() { (0, src.len()) } else { (node.start_byte(), node.end_byte()) };
            let mut prev: Option<Node> = None;
            let mut cursor = node.walk();
            for child in node.children(&mut cursor) {
                between(gap(src, at, child.start_byte()), prev, Some(child))?;
                (at, prev) = (child.end_byte(), Some(child));
                match child.kind() {
                    k if OPERATORS.contains(&k) || k == "comment" => {}
                    _ => walk(child, src, out)?,
                }
            }
            between(gap(src, at, end), prev, None)
        }
        "command" => {
            out.push(words(node, src)?);
            Ok(())
        }
        other => Err(reason_for(other)),
    }
}

/// The words of a simple command: its name and literal arguments, as bash
/// reads them.
fn words(node: Node, src: &[u8]) -> Result<Vec<String>, String> {
    let mut nodes = Vec::new();
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        match child.kind() {
            "command_name" => {
                let mut c = child.walk();
                nodes.extend(child.children(&mut c));
            }
            _ => nodes.push(child),
        }
    }
    let words = nodes.iter().map(|n| argument(*n, src)).collect::<Result<Vec<_>, _>>()?;
    let mut at = node.start_byte();
    for (i, n) in nodes.iter().enumerate() {
        let (blank, newline) = blanks(gap(src, at, n.start_byte()))?;
        // tree-sitter-bash reads on past a space and newline(s) into a
        // line that starts with a continuation (`ls \n\\\nrm x` is one
        // command to it); bash ends the command at the newline.
        if i > 0 && newline {
            return Err("bash ends the command at a newline the parser read past".into());
        }
        if i > 0 && !blank {
            return Err("a line continuation joins two words".into());
        }
        at = n.end_byte();
    }
    blanks(gap(src, at, node.end_byte()))?;
    Ok(words)
}

/// The script's bytes from `from` to `to` (none if they cross).
fn gap(src: &[u8], from: usize, to: usize) -> &[u8] {
    src.get(from..to).unwrap_or_default()
}

/// What bash makes of `gap`, text tree-sitter-bash skipped between two
/// tokens: whether it holds a blank (space or tab) and whether a newline.
/// Anything but blanks, newlines and line continuations is an error:
/// tree-sitter-bash also skips `\<space>` and `\<tab>`, which bash reads as
/// a word's characters.
fn blanks(gap: &[u8]) -> Result<(bool, bool), String> {
    let (mut blank, mut newline) = (false, false);
    let mut i = 0;
    while i < gap.len() {
        match gap[i] {
            b' ' | b'\t' => blank = true,
            b'\n' => newline = true,
            b'\\' if gap.get(i + 1) == Some(&b'\n') => i += 1,
            _ => {
                let gap = String::from_utf8_lossy(gap);
                return Err(format!("bash does not read {gap:?} as a space between words"));
            }
        }
        i += 1;
    }
    Ok((blank, newline))
}

/// Checks the text between two children of a command list: blanks, and a
/// `#` that bash reads as a comment (not, after a line continuation, as
/// the end of the word before it: `ls\<newline>#x` runs `ls#x`).
fn between(gap: &[u8], prev: Option<Node>, next: Option<Node>) -> Result<(), String> {
    let (blank, newline) = blanks(gap)?;
    let after_word = prev.is_some_and(|p| !OPERATORS.contains(&p.kind()) && p.kind() != "comment");
    if next.is_some_and(|n| n.kind() == "comment") && after_word && !blank && !newline {
        return Err("bash reads the `#` after a line continuation as part of a word, not a comment".into());
    }
    Ok(())
}

/// A whole word as bash passes it: [`word`], then tilde expansion.
fn argument(node: Node, src: &[u8]) -> Result<String, String> {
    let raw = node.utf8_text(src).map_err(|_| "the command is not valid UTF-8".to_string())?;
    tilde(raw, word(node, src)?, std::env::var("HOME").ok().as_deref())
}

/// Bash's tilde expansion of a word (`raw` as written, `word` as read):
/// a leading unquoted `~` or `~/…` becomes `home`, what the command will
/// see (`sed ~ f` runs the script `/home/…`). `~user`, `~+`, `~-`, a
/// quoted prefix, and a `~` after `=` or `:` in a word bash reads as an
/// assignment are refused rather than guessed.
fn tilde(raw: &str, word: String, home: Option<&str>) -> Result<String, String> {
    if let Some(rest) = raw.strip_prefix('~') {
        let prefix = &rest[..rest.find('/').unwrap_or(rest.len())];
        if !prefix.is_empty() {
            return Err(format!("bash expands `~{prefix}`, which tern does not"));
        }
        let home = home.ok_or("it starts with `~` and HOME is not set")?;
        return Ok(format!("{home}{}", word.strip_prefix('~').unwrap_or(&word)));
    }
    let assignment = raw.split_once('=').is_some_and(|(name, _)| {
        name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    if assignment && (raw.contains("=~") || raw.contains(":~")) {
        return Err("bash expands the `~` after `=` or `:` in it".into());
    }
    Ok(word)
}

fn word(node: Node, src: &[u8]) -> Result<String, String> {
    let text = node.utf8_text(src).map_err(|_| "the command is not valid UTF-8".to_string())?;
    if matches!(node.kind(), "word" | "concatenation") && brace_expansion(text) {
        return Err("it uses brace expansion".into());
    }
    match node.kind() {
        // A newline ends the command in bash, though tree-sitter-bash may
        // read one into a word (`status \n\\-x`).
        "word" | "number" if raw_newline(text) => Err("bash ends the command at a newline inside a word".into()),
        "word" | "number" => Ok(unescape(text, |_| true)),
        "raw_string" => Ok(text.trim_matches('\'').to_string()),
        "string" => {
            // Only plain text inside double quotes: no $VAR, no $(…).
            let mut cursor = node.walk();
            for part in node.children(&mut cursor) {
                match part.kind() {
                    "\"" | "string_content" => {}
                    other => return Err(reason_for(other)),
                }
            }
            let inner = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
            Ok(unescape(inner, |c| matches!(c, '$' | '`' | '"' | '\\')))
        }
        "concatenation" => {
            let mut s = String::new();
            let mut cursor = node.walk();
            for part in node.children(&mut cursor) {
                s.push_str(&word(part, src)?);
            }
            Ok(s)
        }
        other => Err(reason_for(other)),
    }
}

/// `text` as bash reads it: a backslash before a character `escapes`
/// accepts is dropped and the character kept (all of them unquoted, a few
/// inside double quotes); before a newline, both are dropped.
fn unescape(text: &str, escapes: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('\n')) => {
                chars.next();
            }
            ('\\', Some(next)) if escapes(next) => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// Whether unquoted `text` holds a newline that no backslash escapes.
fn raw_newline(text: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '\n' => return true,
            _ => {}
        }
    }
    false
}

/// Whether bash may expand braces in `text` (`{a,b}`, `{1..3}`): a `{`,
/// then `,` or `..`, then `}`. Quoted braces are not expanded, but seen
/// here too (it only makes tern ask).
fn brace_expansion(text: &str) -> bool {
    text.match_indices('{').any(|(open, _)| {
        let rest = &text[open..];
        rest.find('}').is_some_and(|close| rest[..close].contains(',') || rest[..close].contains(".."))
    })
}

fn reason_for(kind: &str) -> String {
    match kind {
        "redirected_statement" | "file_redirect" | "heredoc_redirect" | "herestring_redirect" | "heredoc_body" => {
            "it redirects input or output (which can write files)".into()
        }
        "command_substitution" | "process_substitution" => "it uses command substitution".into(),
        "simple_expansion" | "expansion" | "arithmetic_expansion" => "it expands variables".into(),
        "variable_assignment" | "declaration_command" | "unset_command" => "it sets variables".into(),
        "subshell"
        | "compound_statement"
        | "if_statement"
        | "for_statement"
        | "c_style_for_statement"
        | "while_statement"
        | "case_statement"
        | "function_definition"
        | "negated_command"
        | "test_command" => "it uses shell control structures".into(),
        other => format!("it uses shell syntax tern does not check (`{other}`)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_expands_as_bash_does() {
        let t = |raw: &str, word: &str| tilde(raw, word.to_string(), Some("/home/u"));
        assert_eq!(t("~", "~").unwrap(), "/home/u");
        assert_eq!(t("~/x\\ y", "~/x y").unwrap(), "/home/u/x y");
        assert_eq!(t("a~", "a~").unwrap(), "a~");
        assert_eq!(t("'~'", "~").unwrap(), "~", "quoted: no expansion");
        assert_eq!(t("--file=~/x", "--file=~/x").unwrap(), "--file=~/x", "not an assignment");
        assert!(t("~root/x", "~root/x").unwrap_err().contains("~root"));
        assert!(t("~+", "~+").is_err() && t("~\"x\"/y", "~x/y").is_err());
        assert!(t("a=~/x", "a=~/x").unwrap_err().contains("after `=`"));
        assert!(t("PATH=/bin:~/bin", "PATH=/bin:~/bin").is_err());
        assert!(tilde("~", "~".into(), None).unwrap_err().contains("HOME"));
    }
}
