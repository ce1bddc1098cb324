fn main() {
    afl::fuzz!(|data: &[u8]| tern_fuzz::targets::wire::run(tern_config::WireApi::Anthropic, data));
}
