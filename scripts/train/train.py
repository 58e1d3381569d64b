#!/usr/bin/env python3
"""Trains Tessera's default text model: a byte-level BPE tokenizer and a small
Llama (LlamaForCausalLM) on the plain-text corpus from prepare_corpus.sh, and
writes a Hugging Face checkpoint directory that `tessera model build --from-hf`
imports.

  python3 train.py --corpus kjv.txt devil.txt --out OUT                # GPU, about 65 s on an H200
  python3 train.py --corpus kjv.txt devil.txt --out /tmp/smoke --device cpu \
      --steps 3 --batch 2 --context 64 --layers 2 --eval-tokens 4096      # CPU smoke test

OUT/model/     config.json, model*.safetensors (fp16, sharded), tokenizer.json,
               tokenizer_config.json, generation_config.json
OUT/fixtures/  tokenizer_ids.json (ids the Python tokenizer gives for sample
               texts), reference.json + reference_logits.f32 (PyTorch fp32
               forward of the saved fp16 checkpoint: greedy tokens and logits)
OUT/metrics.json  parameters, steps, losses, held-out perplexity, samples

Everything random is seeded (--seed): the document split, the initial weights,
the batches and the sampled texts.
"""
import argparse
import json
import math
import os
import random
import struct
import sys
import time

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM

DOC = "<|endoftext|>"  # starts every document; also the end-of-text token
PAD = "<|pad|>"

PROMPTS = ["And God said unto Moses,", "In the beginning", "CYNIC, n.", "The king of Israel"]
TOKENIZER_SAMPLES = [
    "In the beginning God created the heaven and the earth.",
    "ABASEMENT, n.  A decent and customary mental attitude in the presence\nof wealth of power.",
    "Tessera cuts a model into pieces.",
    "  leading spaces, trailing spaces   ",
    "numbers 1234567890 and 3.14159; punctuation!? (brackets) [sic] -- 'quotes' \"double\"",
    "tabs\tand\nnew\n\nlines\r\nwindows",
    "unicode: café naïve Ærøskøbing — “curly” ‘quotes’ … 日本語 😀",
    "",
    " ",
    "<|endoftext|> inside text",
]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", nargs="+", required=True, help="plain-text files; blank lines separate documents")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="kjv-bierce-19m")
    ap.add_argument("--steps", type=int, default=1500, help="optimizer steps (the training budget)")
    ap.add_argument("--time-budget-s", type=float, default=0,
                    help="stop training after this many seconds (0: no limit); the learning rate decays by it too")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32, help="sequences of --context tokens per step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dropout", type=float, default=0.1,
                    help="training-only dropout on each attention and MLP output (GPT-2's residual dropout)")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-tokens", type=int, default=0, help="held-out tokens per evaluation (0: all)")
    ap.add_argument("--val-fraction", type=float, default=0.04)
    ap.add_argument("--sample-tokens", type=int, default=60)
    ap.add_argument("--max-shard-size", default="12MB")
    return ap.parse_args(argv)


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def split_documents(paths, fraction, seed):
    rng = random.Random(seed)
    train, val = [], []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            docs = [d.strip("\n") for d in f.read().split("\n\n") if d.strip()]
        for d in docs:
            (val if rng.random() < fraction else train).append(d)
    return train, val


def train_tokenizer(docs, vocab):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, special_tokens=[DOC, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(docs, trainer=trainer)
    doc_id = tok.token_to_id(DOC)
    # Encoding with special tokens starts the text as a document, as in training.
    tok.post_processor = processors.TemplateProcessing(single=f"{DOC} $A", pair=f"{DOC} $A {DOC} $B",
                                                       special_tokens=[(DOC, doc_id)])
    return tok


def token_stream(tok, docs):
    ids = []
    for enc in tok.encode_batch(docs):  # each starts with the document token
        ids.extend(enc.ids)
    return torch.tensor(ids, dtype=torch.long)


def make_model(args, tok):
    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=args.hidden, intermediate_size=args.ffn,
                      num_hidden_layers=args.layers, num_attention_heads=args.heads,
                      num_key_value_heads=args.kv_heads, max_position_embeddings=args.context,
                      rms_norm_eps=1e-5, hidden_act="silu", attention_bias=False, tie_word_embeddings=True,
                      bos_token_id=tok.token_to_id(DOC), eos_token_id=tok.token_to_id(DOC),
                      pad_token_id=tok.token_to_id(PAD))
    return LlamaForCausalLM(cfg)


def add_residual_dropout(model, p):
    """Dropout on what each attention and MLP block adds to the residual stream,
    in training mode only. Hooks, so the saved architecture stays plain Llama."""
    def attn(mod, inp, out):
        if not mod.training:
            return out
        if isinstance(out, tuple):
            return (F.dropout(out[0], p, True),) + tuple(out[1:])
        return F.dropout(out, p, True)

    def mlp(mod, inp, out):
        return F.dropout(out, p, mod.training)

    for layer in model.model.layers:
        layer.self_attn.register_forward_hook(attn)
        layer.mlp.register_forward_hook(mlp)


def rope_theta(cfg):
    theta = getattr(cfg, "rope_theta", None)
    if theta is None:
        theta = (getattr(cfg, "rope_parameters", None) or {}).get("rope_theta")
    return float(theta if theta is not None else 10000.0)


@torch.no_grad()
def evaluate(model, stream, context, device, max_tokens):
    """Mean next-token loss over held-out text cut into whole windows."""
    model.eval()
    n = stream.numel() - 1
    if max_tokens:
        n = min(n, max_tokens)
    windows = max(1, n // context)
    total, count = 0.0, 0
    for start in range(0, windows * context, context * 16):
        xs, ys = [], []
        for s in range(start, min(start + context * 16, windows * context), context):
            xs.append(stream[s:s + context])
            ys.append(stream[s + 1:s + 1 + context])
        x = torch.stack(xs).to(device)
        y = torch.stack(ys).to(device)
        with autocast(device):
            logits = model(input_ids=x).logits
        total += F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    model.train()
    return total / count


def autocast(device):
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def lr_at(step, args, elapsed=0.0):
    """Linear warmup, then cosine decay to 10% of --lr. With --time-budget-s the
    decay follows whichever budget (steps or seconds) is further spent."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    if args.time_budget_s:
        progress = max(progress, elapsed / args.time_budget_s)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train(args, model, train_ids, val_ids):
    device = args.device
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(args.seed)
    best = {"val_loss": float("inf"), "step": -1, "state": None}
    history = []
    start = time.time()
    step = 0
    loss_ema = None
    for step in range(args.steps):
        lr = lr_at(step, args, time.time() - start)
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, train_ids.numel() - args.context - 1, (args.batch,), generator=gen)
        x = torch.stack([train_ids[s:s + args.context] for s in starts]).to(device, non_blocking=True)
        y = torch.stack([train_ids[s + 1:s + 1 + args.context] for s in starts]).to(device, non_blocking=True)
        with autocast(device):
            logits = model(input_ids=x).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_ema = loss.item() if loss_ema is None else 0.95 * loss_ema + 0.05 * loss.item()
        last = step == args.steps - 1
        over_time = args.time_budget_s and time.time() - start > args.time_budget_s
        if (step + 1) % args.eval_every == 0 or last or over_time:
            val = evaluate(model, val_ids, args.context, device, args.eval_tokens)
            history.append({"step": step + 1, "train_loss": round(loss_ema, 4), "val_loss": round(val, 4),
                            "seconds": round(time.time() - start, 1)})
            log(f"step {step + 1}/{args.steps} train {loss_ema:.4f} val {val:.4f} (ppl {math.exp(val):.2f})"
                f" lr {lr:.2e} {time.time() - start:.0f}s")
            if val < best["val_loss"]:
                best = {"val_loss": val, "step": step + 1,
                        "state": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}}
        if over_time:
            log(f"time budget of {args.time_budget_s:.0f}s reached after {step + 1} steps")
            break
    model.load_state_dict(best["state"])
    return {"steps_run": step + 1, "train_seconds": round(time.time() - start, 1), "best_step": best["step"],
            "history": history}


@torch.no_grad()
def samples(model, tok, args, device):
    out = {}
    model.eval()
    for p in PROMPTS:
        ids = torch.tensor([tok.encode(p).ids], device=device)
        greedy = model.generate(ids, max_new_tokens=args.sample_tokens, do_sample=False,
                                eos_token_id=None, pad_token_id=tok.token_to_id(PAD))
        sampled = []
        for _ in range(2):
            torch.manual_seed(args.seed + len(sampled))
            s = model.generate(ids, max_new_tokens=args.sample_tokens, do_sample=True, temperature=0.8,
                               top_k=40, top_p=0.95, eos_token_id=None, pad_token_id=tok.token_to_id(PAD))
            sampled.append(p + tok.decode(s[0, ids.size(1):].tolist()))
        out[p] = {"greedy": p + tok.decode(greedy[0, ids.size(1):].tolist()), "sampled": sampled}
        log(f"greedy  | {out[p]['greedy']!r}")
        for s in sampled:
            log(f"sampled | {s!r}")
    return out


def write_checkpoint(model, tok, args, model_dir):
    os.makedirs(model_dir, exist_ok=True)
    half = LlamaForCausalLM(model.config)
    half.load_state_dict(model.state_dict())
    half = half.to(torch.float16)
    try:
        half.save_pretrained(model_dir, max_shard_size=args.max_shard_size)
    except TypeError as e:  # a transformers version without max_shard_size: one file
        log(f"save_pretrained: {e}; saving unsharded")
        half.save_pretrained(model_dir)
    # Explicit keys, whatever this transformers version writes by default.
    cfg_path = os.path.join(model_dir, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg.update({"rope_theta": rope_theta(model.config), "rms_norm_eps": model.config.rms_norm_eps,
                "head_dim": args.hidden // args.heads, "tie_word_embeddings": True, "torch_dtype": "float16",
                "_name_or_path": args.name})
    cfg.pop("rope_parameters", None)
    cfg.pop("dtype", None)
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    tok.save(os.path.join(model_dir, "tokenizer.json"))
    doc_id, pad_id = tok.token_to_id(DOC), tok.token_to_id(PAD)
    with open(os.path.join(model_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": DOC, "eos_token": DOC,
                   "pad_token": PAD, "model_max_length": args.context, "clean_up_tokenization_spaces": False},
                  f, indent=2)
        f.write("\n")
    with open(os.path.join(model_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": doc_id, "eos_token_id": doc_id, "pad_token_id": pad_id, "do_sample": True,
                   "temperature": 0.8, "top_k": 40, "top_p": 0.95}, f, indent=2)
        f.write("\n")


@torch.no_grad()
def write_fixtures(model_dir, fixtures_dir, name, steps):
    """Reloads the saved checkpoint on the CPU in fp32 and records what an
    importer must reproduce: tokenizer ids and greedy tokens + logits."""
    os.makedirs(fixtures_dir, exist_ok=True)
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    cases = []
    for t in TOKENIZER_SAMPLES:
        plain = tok.encode(t, add_special_tokens=False).ids
        cases.append({"text": t, "ids": plain, "ids_special": tok.encode(t).ids, "decoded": tok.decode(plain),
                      "expected_roundtrip": t})
    # The layout tests/tokenizers/tokenizer_reference_check reads; "dir" is relative to the repo root.
    with open(os.path.join(fixtures_dir, "tokenizer_ids.json"), "w") as f:
        json.dump({"models": [{"name": name, "dir": f"models/{name}", "cases": cases}]}, f, ensure_ascii=False, indent=1)
    try:
        model = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    except TypeError:
        model = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
    model = model.float().eval()
    entries, blob = [], []
    for p in PROMPTS:
        ids = tok.encode(p).ids
        seq = list(ids)
        greedy = []
        for step in range(steps):
            logits = model(input_ids=torch.tensor([seq]), use_cache=False).logits[0, -1].float()
            if step < 2:  # logits of the first two decode positions, full vocabulary
                blob.append(logits.numpy().astype("<f4").tobytes())
            nxt = int(torch.argmax(logits))
            greedy.append(nxt)
            seq.append(nxt)
        entries.append({"prompt": p, "ids": ids, "greedy": greedy, "text": tok.decode(greedy)})
    with open(os.path.join(fixtures_dir, "reference_logits.f32"), "wb") as f:
        f.write(b"".join(blob))
    with open(os.path.join(fixtures_dir, "reference.json"), "w") as f:
        json.dump({"vocab_size": model.config.vocab_size, "logit_steps_per_prompt": 2,
                   "logits_file": "reference_logits.f32 (little-endian float32, prompt-major, step, vocab)",
                   "computed_with": f"torch {torch.__version__} fp32 on CPU from the saved fp16 weights",
                   "prompts": entries}, f, ensure_ascii=False, indent=1)


def main(argv):
    args = parse_args(argv)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    os.makedirs(args.out, exist_ok=True)
    import tokenizers
    import transformers
    versions = {"python": sys.version.split()[0], "torch": torch.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"}
    log("versions", versions)
    train_docs, val_docs = split_documents(args.corpus, args.val_fraction, args.seed)
    log(f"documents: {len(train_docs)} train, {len(val_docs)} held out")
    t0 = time.time()
    tok = train_tokenizer(train_docs, args.vocab)
    log(f"tokenizer: {tok.get_vocab_size()} tokens in {time.time() - t0:.1f}s")
    train_ids, val_ids = token_stream(tok, train_docs), token_stream(tok, val_docs)
    train_bytes = sum(len(d.encode()) for d in train_docs)
    val_bytes = sum(len(d.encode()) for d in val_docs)
    log(f"tokens: {train_ids.numel()} train ({train_bytes / train_ids.numel():.2f} bytes/token), {val_ids.numel()} held out")
    model = make_model(args, tok).to(args.device)
    if args.dropout > 0:
        add_residual_dropout(model, args.dropout)
    params = sum(p.numel() for p in model.parameters())
    log(f"model: {params / 1e6:.2f} M parameters (tied embeddings)")
    result = train(args, model, train_ids, val_ids)
    val = evaluate(model, val_ids, args.context, args.device, 0)
    log(f"best step {result['best_step']}: held-out loss {val:.4f}, perplexity {math.exp(val):.2f}")
    texts = samples(model, tok, args, args.device)
    model_dir = os.path.join(args.out, "model")
    write_checkpoint(model.float().cpu(), tok, args, model_dir)
    write_fixtures(model_dir, os.path.join(args.out, "fixtures"), args.name, steps=24)
    metrics = {"name": args.name, "args": vars(args), "versions": versions, "parameters": params,
               "documents": {"train": len(train_docs), "held_out": len(val_docs)},
               "tokens": {"train": train_ids.numel(), "held_out": val_ids.numel()},
               "bytes": {"train": train_bytes, "held_out": val_bytes},
               "held_out_loss": round(val, 4), "held_out_perplexity": round(math.exp(val), 2),
               "held_out_bits_per_byte": round(val * val_ids.numel() / val_bytes / math.log(2), 4),
               "samples": texts, **result}
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, ensure_ascii=False, indent=1)
    log("wrote", args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
