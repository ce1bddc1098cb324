//! Generation speed with and without prompt-lookup drafting, through
//! tern's own engine, on two generation-heavy requests: rewriting a
//! 60-line function with a variable renamed (mostly copied lines) and a
//! long explanation of it (mostly new text). Prints tokens/s, drafted and
//! picked tokens, and whether the output equals the undrafted one.
//! `bench/lookup.py` runs it; by hand:
//! `cargo run --release -p tern-local --example lookup -- MODEL.gguf [DRAFT ...]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use tern_llm::{Message, ModelClient, Request, ToolSpec};
use tern_local::{LocalClient, Settings};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A 60-line function of the kind users ask to have rewritten.
const INVOICE: &str = r#"def compute_invoice(order, customer, rates, today):
    """The invoice for an order: lines, discounts, tax and totals."""
    lines = []
    total = 0.0
    for item in order["items"]:
        price = item["unit_price"] * item["quantity"]
        if item.get("discount_percent"):
            price = price * (1 - item["discount_percent"] / 100)
        lines.append({
            "sku": item["sku"],
            "description": item["description"],
            "quantity": item["quantity"],
            "amount": round(price, 2),
        })
        total += price
    if customer.get("loyalty_years", 0) >= 5:
        loyalty = total * 0.05
        lines.append({"sku": "LOYALTY", "description": "Loyalty discount", "quantity": 1, "amount": -round(loyalty, 2)})
        total -= loyalty
    shipping = rates["shipping"].get(customer["country"], rates["shipping"]["default"])
    if total >= rates["free_shipping_over"]:
        shipping = 0.0
    lines.append({"sku": "SHIP", "description": "Shipping", "quantity": 1, "amount": round(shipping, 2)})
    total += shipping
    tax_rate = rates["tax"].get(customer["country"], 0.0)
    if customer.get("tax_exempt"):
        tax_rate = 0.0
    tax = total * tax_rate
    due = today
    for _ in range(customer.get("payment_days", 30)):
        due = due.next_day()
    invoice = {
        "number": order["number"],
        "customer": customer["name"],
        "address": customer["address"],
        "lines": lines,
        "subtotal": round(total, 2),
        "tax_rate": tax_rate,
        "tax": round(tax, 2),
        "total": round(total + tax, 2),
        "currency": rates["currency"],
        "issued": today.isoformat(),
        "due": due.isoformat(),
    }
    if invoice["total"] < 0:
        raise ValueError("an invoice cannot be negative: " + order["number"])
    if len(lines) > 200:
        raise ValueError("too many lines for one invoice: " + str(len(lines)))
    notes = []
    if customer.get("tax_exempt"):
        notes.append("Tax exempt: " + customer.get("tax_id", "no id given"))
    if shipping == 0.0:
        notes.append("Free shipping")
    if customer.get("loyalty_years", 0) >= 5:
        notes.append("Thank you for " + str(customer["loyalty_years"]) + " years with us")
    invoice["notes"] = notes
    invoice["pages"] = 1 + len(lines) // 40
    invoice["status"] = "open"
    invoice["reminders"] = []
    invoice["paid"] = 0.0
    return invoice
"#;

struct Task {
    name: &'static str,
    request: String,
    tools: Vec<ToolSpec>,
    max_output: usize,
}

fn tasks() -> Vec<Task> {
    vec![
        Task {
            name: "rewrite",
            request: format!(
                "billing/invoice.py:\n```python\n{INVOICE}```\nIn compute_invoice, rename the variable `total` to \
                 `running_total` everywhere. Reply with the whole new function."
            ),
            tools: vec![],
            max_output: 2048,
        },
        Task {
            name: "explain",
            request: format!("```python\n{INVOICE}```\nExplain in detail what each part of this function does."),
            tools: vec![],
            max_output: 400,
        },
    ]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: lookup MODEL.gguf [DRAFT ...]");
    let mut drafts: Vec<usize> = args.map(|a| a.parse().expect("a draft length")).collect();
    if drafts.is_empty() {
        drafts = vec![0, tern_local::DRAFT_TOKENS];
    }
    for task in tasks() {
        let mut baseline: Option<String> = None;
        for &draft in &drafts {
            let mut settings = Settings::new(path.clone().into());
            settings.max_output = task.max_output;
            settings.draft_tokens = draft;
            let client = LocalClient::start("bench", settings).unwrap();
            let messages = [Message::User { content: task.request.clone() }];
            let (tx, mut rx) = mpsc::channel(8192);
            let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
            let cancel = CancellationToken::new();
            let req = Request {
                model: "bench",
                messages: &messages,
                tools: &task.tools,
                cache_key: "bench",
                tools_disabled: false,
            };
            let response = client.stream(req, &tx, &cancel).await.unwrap();
            drop(tx);
            drain.await.unwrap();
            let t = client.last_timings();
            let output = format!("{}{:?}", response.content, response.tool_calls);
            // The output itself, for a reader checking what was measured.
            eprintln!("--- {} draft={draft}\n{output}", task.name);
            let same = match &baseline {
                None => {
                    baseline = Some(output);
                    "-"
                }
                Some(b) if *b == output => "yes",
                Some(_) => "no",
            };
            println!(
                "task={} draft={draft} generated_tokens={} generate_s={:.2} gen_tok_per_s={:.1} drafted={} \
                 accepted={} same_output={same}",
                task.name,
                t.generated_tokens,
                t.generate_seconds,
                t.generated_tokens as f64 / t.generate_seconds,
                t.drafted_tokens,
                t.accepted_tokens,
            );
            client.shutdown().await;
        }
    }
}
