"""Text side: tokenizers (saved with the model) and the lstm / transformer / pretrained encoders."""
from .encoders import (
    BagOfWordsTextEncoder,
    LSTMTextEncoder,
    TextEncoder,
    TextFeatures,
    TransformerTextEncoder,
    build_text_encoder,
    masked_mean,
)
from .tokenizer import (
    TextProcessor,
    WordTokenizer,
    build_text_processor,
    load_text_processor,
    split_words,
)

__all__ = [
    "BagOfWordsTextEncoder",
    "LSTMTextEncoder",
    "TextEncoder",
    "TextFeatures",
    "TextProcessor",
    "TransformerTextEncoder",
    "WordTokenizer",
    "build_text_encoder",
    "build_text_processor",
    "load_text_processor",
    "masked_mean",
    "split_words",
]
