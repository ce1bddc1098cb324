//! `tern-sandbox`: confines one command and becomes it (see
//! `tern_sandbox::helper`). A binary of its own, installed beside `tern`,
//! because starting it costs far less than starting the whole of `tern`
//! for every sandboxed command.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(tern_sandbox::helper::run(std::env::args_os().skip(1)))
}
