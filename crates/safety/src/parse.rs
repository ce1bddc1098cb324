//! Turning `bash -c` text into plain commands, or saying why not.

use tree_sitter::{Node, Parser};

/// The simple commands of `script`, each as its words, when the script is
/// nothing but literal commands joined by `&&`, `||`, `;`, `|` or newlines.
/// Otherwise, why it is not (a reason a person can read).
pub fn parse_commands(script: &str) -> Result<Vec<Vec<String>>, String> {
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

fn walk(node: Node, src: &[u8], out: &mut Vec<Vec<String>>) -> Result<(), String> {
    match node.kind() {
        "program" | "list" | "pipeline" => {
            let mut cursor = node.walk();
            for child in node.children(&mut cursor) {
                match child.kind() {
                    "&&" | "||" | ";" | "|" | "\n" | "comment" => {}
                    _ => walk(child, src, out)?,
                }
            }
            Ok(())
        }
        "command" => {
            out.push(words(node, src)?);
            Ok(())
        }
        other => Err(reason_for(other)),
    }
}

/// The words of a simple command: its name and literal arguments.
fn words(node: Node, src: &[u8]) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        match child.kind() {
            "command_name" => {
                let mut c = child.walk();
                for part in child.children(&mut c) {
                    words.push(word(part, src)?);
                }
            }
            _ => words.push(word(child, src)?),
        }
    }
    Ok(words)
}

fn word(node: Node, src: &[u8]) -> Result<String, String> {
    let text = node.utf8_text(src).map_err(|_| "the command is not valid UTF-8".to_string())?;
    match node.kind() {
        "word" | "number" => Ok(text.replace('\\', "")),
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
            Ok(text.trim_matches('"').to_string())
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
