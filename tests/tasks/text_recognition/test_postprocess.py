import numpy as np
import pytest

from hpi.errors import ModelDirError
from hpi.tasks.text_recognition.postprocess import CTCDecoder


def one_hot(indices, classes, prob=0.9):
    probs = np.full((1, len(indices), classes), (1 - prob) / (classes - 1), np.float32)
    for t, index in enumerate(indices):
        probs[0, t, index] = prob
    return probs


def test_repeats_merge_and_blanks_split():
    decoder = CTCDecoder(["a", "b"])  # classes: blank, a, b, space
    assert decoder(one_hot([1, 1, 0, 1, 2, 2, 3, 1], 4))[0][0] == "aab a"


def test_space_is_the_last_class_and_multi_codepoint_entries_stay_whole():
    decoder = CTCDecoder(["🇩🇪", "x"])
    assert decoder.characters == ["blank", "🇩🇪", "x", " "]
    assert decoder(one_hot([1, 3, 2], 4))[0][0] == "🇩🇪 x"


def test_score_is_mean_of_kept_steps_and_empty_text_scores_zero():
    decoder = CTCDecoder(["a"])
    probs = one_hot([1, 0, 1], 3, prob=0.8)
    probs[0, 2, 1] = 0.6
    text, score = decoder(probs)[0]
    assert text == "aa" and score == pytest.approx(0.7, abs=1e-6)
    assert decoder(one_hot([0, 0], 3)) == [("", 0.0)]


def test_output_that_does_not_fit_the_dictionary_is_an_error():
    with pytest.raises(ModelDirError, match="does not fit a dictionary of 4 classes"):
        CTCDecoder(["a", "b"])(np.zeros((1, 5, 7), np.float32))


def test_top1_decoding_equals_decoding_the_whole_output():
    rng = np.random.default_rng(0)
    decoder = CTCDecoder(list("abcdefg"))
    probs = rng.random((3, 12, len(decoder.characters))).astype(np.float32)
    probs /= probs.sum(axis=2, keepdims=True)
    top1 = np.stack([probs.max(axis=2), probs.argmax(axis=2).astype(np.float32)], axis=2)
    assert decoder.decode_top1(top1) == decoder(probs)
    top1[0, 0, 1] = len(decoder.characters)  # a class the dictionary does not have
    with pytest.raises(ModelDirError, match="beyond a dictionary"):
        decoder.decode_top1(top1)
