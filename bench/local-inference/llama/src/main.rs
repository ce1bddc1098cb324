//! Load time, prompt tokens/s and greedy generation tokens/s of a GGUF with llama.cpp.
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use std::num::NonZeroU32;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).expect("gguf path");
    let prompt_len: usize = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(512);
    let gen = 64;
    let mut backend = LlamaBackend::init()?;
    backend.void_logs();
    let t = Instant::now();
    let model = LlamaModel::load_from_file(&backend, &path, &LlamaModelParams::default())?;
    println!("load: {:.2} s", t.elapsed().as_secs_f64());
    let params = LlamaContextParams::default().with_n_ctx(NonZeroU32::new(4096)).with_n_batch(1024);
    let mut ctx = model.new_context(&backend, params)?;
    let prompt: Vec<i32> = (0..prompt_len as i32).map(|i| 1000 + (i * 7919) % 50000).collect();
    let mut batch = LlamaBatch::new(1024, 1);
    let t = Instant::now();
    for (i, tok) in prompt.iter().enumerate() {
        batch.add(llama_cpp_2::token::LlamaToken(*tok), i as i32, &[0], i == prompt.len() - 1)?;
    }
    ctx.decode(&mut batch)?;
    let mut sampler = LlamaSampler::greedy();
    let mut next = sampler.sample(&ctx, batch.n_tokens() - 1);
    let pp = t.elapsed().as_secs_f64();
    println!("prompt: {prompt_len} tokens in {pp:.2} s = {:.1} tok/s", prompt_len as f64 / pp);
    let t = Instant::now();
    for i in 0..gen {
        batch.clear();
        batch.add(next, (prompt_len + i) as i32, &[0], true)?;
        ctx.decode(&mut batch)?;
        next = sampler.sample(&ctx, 0);
    }
    let g = t.elapsed().as_secs_f64();
    println!("generate: {gen} tokens in {g:.2} s = {:.1} tok/s", gen as f64 / g);
    Ok(())
}
