fn main() {
    afl::fuzz!(|data: &[u8]| tern_fuzz::targets::config::run(data));
}
