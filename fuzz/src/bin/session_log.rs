fn main() {
    afl::fuzz!(|data: &[u8]| tern_fuzz::targets::session_log::run(data));
}
