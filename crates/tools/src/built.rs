//! What a build made: asked to build a program and say what it prints, a
//! small model runs `make`, then reports the compiler's command line as
//! the program's output. The small profile adds a line naming the
//! program the build linked, saying it has not run and how to run it.

use tern_protocol::CommandOutcome;

/// Compilers and linkers whose `-o NAME` names the program built.
const LINKERS: &[&str] = &["cc", "gcc", "clang", "c++", "g++", "clang++", "ld", "tcc"];
/// Outputs that are not programs.
const NOT_PROGRAMS: &[&str] = &[".o", ".obj", ".a", ".so", ".dylib", ".dll", ".lib", ".d", ".gch", ".pch"];

/// `[tern] …` naming the programs a successful build linked (from its
/// compiler lines and its own command) that the command did not also
/// run; None when it linked none.
pub(crate) fn note(run: &CommandOutcome) -> Option<String> {
    if run.exit_code != Some(0) {
        return None;
    }
    let mut programs: Vec<&str> = Vec::new();
    for line in run.command.lines().chain(run.output.lines()) {
        for part in line.split(['&', ';', '|']) {
            if let Some(program) = linked(part)
                && !programs.contains(&program)
            {
                programs.push(program);
            }
        }
    }
    // make echoes the commands it runs: a program it ran shows as one.
    programs.retain(|p| !runs(&run.command, p) && !runs(&run.output, p));
    if programs.is_empty() {
        return None;
    }
    let how: Vec<String> = programs.iter().map(|p| invocation(p)).collect();
    let how = how.join(", ");
    Some(format!("[tern] This built {how} without running it: to see what it prints, run {how}."))
}

/// The program a compiler or linker command line writes with `-o`.
fn linked(command: &str) -> Option<&str> {
    let mut words = command.split_whitespace();
    let first = words.next()?;
    let program = first.rsplit('/').next().unwrap_or(first);
    // gcc-13, x86_64-linux-gnu-gcc, clang-18
    let base = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
    if !LINKERS.iter().any(|l| base == *l || base.ends_with(&format!("-{l}"))) {
        return None;
    }
    let words: Vec<&str> = words.collect();
    // Compiling only (-c, -S, -E) makes no program.
    if words.iter().any(|w| matches!(*w, "-c" | "-S" | "-E")) {
        return None;
    }
    let out = words.windows(2).find(|w| w[0] == "-o").map(|w| w[1])?;
    let out = out.trim_matches(['\'', '"']);
    let lower = out.to_ascii_lowercase();
    let program = !out.is_empty() && !out.starts_with('-') && !out.starts_with("/dev/");
    (program && !NOT_PROGRAMS.iter().any(|ext| lower.ends_with(ext))).then_some(out)
}

/// How to run `program` from the build's directory.
fn invocation(program: &str) -> String {
    if program.starts_with('/') || program.starts_with("./") || program.starts_with("../") {
        program.to_string()
    } else {
        format!("./{program}")
    }
}

/// Whether `script` also runs `program` (`make && ./demo`).
fn runs(script: &str, program: &str) -> bool {
    script.split(['&', ';', '|', '\n']).any(|part| {
        let first = part.split_whitespace().next().unwrap_or_default();
        first == invocation(program) || first == program && program.contains('/')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(command: &str, output: &str, exit_code: i32) -> CommandOutcome {
        CommandOutcome {
            command: command.into(),
            output: output.into(),
            exit_code: Some(exit_code),
            ..Default::default()
        }
    }

    #[test]
    fn a_linked_program_is_named_as_not_run() {
        let make = outcome("make", "gcc -Wall -O2 -Iinclude -o ringbuf_demo src/main.c src/ring.c\n", 0);
        assert_eq!(
            note(&make).as_deref(),
            Some("[tern] This built ./ringbuf_demo without running it: to see what it prints, run ./ringbuf_demo.")
        );
        let direct = outcome("gcc -o tests/test_ring tests/test_ring.c src/ring.c && echo ok", "ok\n", 0);
        assert_eq!(
            note(&direct).as_deref(),
            Some(
                "[tern] This built ./tests/test_ring without running it: to see what it prints, run ./tests/test_ring."
            )
        );
        let cross = outcome("make", "x86_64-linux-gnu-gcc-13 -o demo main.c\nclang++ -o app a.cc\n", 0);
        assert!(note(&cross).unwrap().contains("built ./demo, ./app without"), "{:?}", note(&cross));
    }

    #[test]
    fn objects_failed_builds_and_programs_already_run_get_nothing() {
        for (command, output, code) in [
            ("make", "cc -c -o ring.o ring.c\nar rcs libring.a ring.o\n", 0),
            ("make", "gcc -shared -o libring.so ring.c\n", 0),
            ("make", "gcc -o demo main.c\nmain.c:3: error: expected ';'\n", 2),
            ("make && ./demo", "gcc -o demo main.c\n190\n", 0),
            ("gcc -o demo main.c; ./demo", "190\n", 0),
            ("make test", "gcc -o tests/test_ring t.c\n./tests/test_ring\nall ring tests passed\n", 0),
            ("python3 -m unittest", "Ran 3 tests\n\nOK\n", 0),
            ("echo gcc -o", "gcc -o\n", 0),
            ("cc -o /dev/null probe.c", "", 0),
        ] {
            let run = outcome(command, output, code);
            assert_eq!(note(&run), None, "{command:?} {output:?}");
        }
    }
}
