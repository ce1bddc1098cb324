//! Load time, prompt tokens/s and greedy generation tokens/s of a GGUF with candle.
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_qwen2::ModelWeights;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).expect("gguf path");
    let prompt_len: usize = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(512);
    let gen: usize = 64;
    let dev = Device::Cpu;
    let t = Instant::now();
    let mut f = std::fs::File::open(&path)?;
    let content = gguf_file::Content::read(&mut f)?;
    let mut model = ModelWeights::from_gguf(content, &mut f, &dev)?;
    println!("load: {:.2} s", t.elapsed().as_secs_f64());
    let prompt: Vec<u32> = (0..prompt_len as u32).map(|i| 1000 + (i * 7919) % 50000).collect();
    let t = Instant::now();
    let input = Tensor::new(prompt.as_slice(), &dev)?.unsqueeze(0)?;
    let logits = model.forward(&input, 0)?;
    let logits = logits.squeeze(0)?;
    let mut next = logits.argmax(candle_core::D::Minus1)?.to_scalar::<u32>()?;
    let pp = t.elapsed().as_secs_f64();
    println!("prompt: {prompt_len} tokens in {pp:.2} s = {:.1} tok/s (ttft {pp:.2} s)", prompt_len as f64 / pp);
    let t = Instant::now();
    for i in 0..gen {
        let input = Tensor::new(&[next], &dev)?.unsqueeze(0)?;
        let logits = model.forward(&input, prompt_len + i)?;
        let logits = logits.squeeze(0)?;
        next = logits.argmax(candle_core::D::Minus1)?.to_scalar::<u32>()?;
    }
    let g = t.elapsed().as_secs_f64();
    println!("generate: {gen} tokens in {g:.2} s = {:.1} tok/s", gen as f64 / g);
    Ok(())
}
