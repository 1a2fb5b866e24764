"""Build a tiny vision-language model with random weights for the `[ask]` interop case (issue 17).

Nothing is downloaded: every part is made here from a config.

* a byte-level BPE tokenizer trained with `tokenizers` on a few words (its alphabet is the 256
  bytes, so random generation yields invalid UTF-8 -> U+FFFD, and control characters),
* a LLaVA-architecture model: a tiny CLIP vision tower (32 px, 8 px patches) + a tiny Llama,
  random weights from a fixed seed,
* a LlavaProcessor: `CLIPImageProcessor` settings at 32 px (the PIL backend: torchvision is not
  installed) and a small chat template that places `<image>` where the image part was.

The words it answers are nonsense; the protocol, image handling and streaming around it are real.

Usage (in the `.venv-interop/ask` venv): python ask_model.py OUT_DIR
Prints one JSON line: the folder, parameter count, vocabulary size, versions.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import tokenizers
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    CLIPVisionConfig,
    GenerationConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

try:  # transformers 5: CLIPImageProcessor is the torchvision backend, this one needs only PIL
    from transformers import CLIPImageProcessorPil as ImageProcessor
except ImportError:  # transformers 4
    from transformers import CLIPImageProcessor as ImageProcessor

SEED = 1717
IMAGE_PX = 32
PATCH_PX = 8
SPECIALS = ["<pad>", "<s>", "</s>", "<image>"]
WORDS = [
    *("this", "is", "a", "dog", "cat", "photo", "picture", "of", "the", "an", "what"),
    *("这是", "什么", "狗", "猫", "图片", "照片", "一只"),
    *("colour", "red", "green", "blue", "small", "big", "animal", "sits", "on", "grass", "table"),
]

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ message['role'] }}: "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([" ".join(WORDS)] * 8, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"},
        model_max_length=4096,
    )


def build(out: str) -> dict:
    torch.manual_seed(SEED)
    tokenizer = build_tokenizer()
    vocab = len(tokenizer)
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    vision = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=IMAGE_PX,
        patch_size=PATCH_PX,
        projection_dim=16,
    )
    text = LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token,
        image_seq_length=(IMAGE_PX // PATCH_PX) ** 2 + 1,  # patches + CLS ("full")
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,  # sampled: the nonsense varies; `transformers serve` raises the
    )  # length to 1024 new tokens unless a request sets max_tokens (the bot does not)
    image_processor = ImageProcessor(
        size={"shortest_edge": IMAGE_PX},
        crop_size={"height": IMAGE_PX, "width": IMAGE_PX},
        do_center_crop=True,
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_PX,
        vision_feature_select_strategy="full",
        chat_template=CHAT_TEMPLATE,
        image_token="<image>",
        num_additional_image_tokens=1,  # CLIP's CLS token, kept with the "full" strategy
    )
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    tokenizer.save_pretrained(out)  # tokenizer files at the top too (AutoTokenizer)
    return dict(
        folder=out,
        architecture=type(model).__name__,
        parameters=sum(p.numel() for p in model.parameters()),
        vocab=vocab,
        image_px=IMAGE_PX,
        image_tokens=(IMAGE_PX // PATCH_PX) ** 2 + 1,
        image_processor=type(image_processor).__name__,
        seed=SEED,
        torch=torch.__version__,
        transformers=transformers.__version__,
        tokenizers=tokenizers.__version__,
    )


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    info = build(os.path.abspath(sys.argv[1]))
    with open(os.path.join(info["folder"], "BUILD_INFO.json"), "w") as fh:
        json.dump(info, fh, indent=1)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
