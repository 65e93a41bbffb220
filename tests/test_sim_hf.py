"""Deploy of Hugging Face Llama and ViT built with real (random) weights."""
import pytest
import torch
import transformers as tf

import analogc
from analogc.sim import analog_layers


def _llama():
    torch.manual_seed(0)
    cfg = tf.LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=120,
                         max_position_embeddings=64)
    return tf.LlamaForCausalLM(cfg).eval(), {"input_ids": torch.randint(0, 120, (2, 10))}


def _vit():
    torch.manual_seed(0)
    cfg = tf.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, image_size=32, patch_size=8)
    return tf.ViTModel(cfg).eval(), {"pixel_values": torch.randn(2, 3, 32, 32)}


def _out(y):
    return y.logits if hasattr(y, "logits") else y.last_hidden_state


@pytest.mark.parametrize("build,n_layers", [(_llama, 2 * 7 + 1), (_vit, 2 * 6 + 2)])
def test_ideal_equivalence_and_noisy_attention(build, n_layers):
    model, batch = build()
    with torch.no_grad():
        ref = _out(model(**batch))
    ideal = analogc.deploy(model, "ideal", seed=0, calibration=[batch])
    assert len(analog_layers(ideal)) == n_layers  # every Linear/Conv, incl. ViT's patch conv
    with torch.no_grad():
        torch.testing.assert_close(_out(ideal(**batch)), ref, rtol=1e-4, atol=1e-5)
    # sram-cim runs the attention matmuls on tiles too: the output moves, but stays close
    noisy = analogc.deploy(model, "sram-cim", seed=0, calibration=[batch])
    with torch.no_grad():
        err = (_out(noisy(**batch)) - ref).norm() / ref.norm()
    assert 1e-4 < float(err) < 0.5
    # ...and it is not only the MVMs: forcing the attention matmuls digital changes the output
    mvm_only = analogc.deploy(model, "sram-cim", seed=0, calibration=[batch], matmul="digital")
    with torch.no_grad():
        assert not torch.allclose(_out(mvm_only(**batch)), _out(noisy(**batch)))
